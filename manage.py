#!/usr/bin/env python
from fairdesk.cli import main

if __name__ == "__main__":
    main()
