"""Review's render of every recipient: 100,000 messages (target: a few seconds).

Run: ``.venv/bin/python bench/review_render.py [ROWS]``. Recipients go straight into a
fresh store; the figure is :func:`smtpdesk.core.campaign.review.review`'s time, which
is what the wizard's Review page waits for (template check, then one render each).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from smtpdesk.core.campaign.content import CampaignContent
from smtpdesk.core.campaign.ledger import Ledger
from smtpdesk.core.campaign.review import RenderProgress, review
from smtpdesk.core.servers import save_server
from smtpdesk.core.store import open_store

ROWS = 100_000
CONTENT = CampaignContent(
    "Spring news for {{ name }}",
    "news@example.com",
    html="<h2>Hello {{ name }}!</h2><p>Readings in <b>{{ city }}</b>.</p>" + "<p>…</p>" * 40,
    unsubscribe_url="https://example.com/u?e={{ email }}",
)


def main(rows: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(Path(folder))
        try:
            save_server(store, {"host": "smtp.example.com"})
            ledger = Ledger(store)
            campaign = ledger.create_campaign("bench", CONTENT)
            ledger.insert_recipients(
                campaign,
                [
                    {"line": i + 2, "email": f"u{i}@example.com", "fields": {"name": f"N{i}"}}
                    for i in range(rows)
                ],
            )
            ledger.add_fields(campaign, ["name", "city"])  # city empty everywhere
            start = time.perf_counter()
            found = review(store, campaign, CONTENT, "email", 10.0, RenderProgress())
            seconds = time.perf_counter() - start
        finally:
            store.close()
    print(f"{found.rendered}; {seconds:.1f} s ({rows / seconds:,.0f} messages/s)")
    print(f"errors: {found.errors}; warnings: {len(found.warnings)}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else ROWS)
