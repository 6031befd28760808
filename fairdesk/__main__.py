from fairdesk.cli import main

main()
