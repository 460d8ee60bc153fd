"""The frozen executable's entry point: the same main() as the `smtpdesk` console script."""

from smtpdesk.cli import main

raise SystemExit(main())
