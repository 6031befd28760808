"""E-mail: a support mailbox polled by IMAP, replies sent by SMTP (see ``connector``)."""
