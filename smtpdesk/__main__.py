from smtpdesk.cli import main

raise SystemExit(main())
