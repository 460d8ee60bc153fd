"""The frozen executable's entry point: the same main() as the `smtpdesk` console script.

Run with ``--smtpdesk-campaign-worker`` it is a campaign's worker process instead
(core/campaign/workers.py starts it so: a frozen app has no ``python -m``).
"""

import sys

if sys.argv[1:] == ["--smtpdesk-campaign-worker"]:
    from smtpdesk.core.campaign.worker_process import main as worker_main

    raise SystemExit(worker_main())

from smtpdesk.cli import main

raise SystemExit(main())
