"""Campaigns: recipients, content, the delivery ledger and the engine that sends. No Qt.

The GUI and the CLI drive campaigns only through these modules:

``recipients``
    ``inspect_file(path) -> FileInfo``: delimiter, encoding, header columns, sample
    rows and the guessed address column of a CSV/TSV file.
    ``import_file(ledger, campaign_id, path, address_column, on_progress=None) -> ImportReport``:
    streams the file into the ledger; counts of valid, invalid and duplicate rows and
    ``problems`` (line number, address, reason) for those kept out.
    Blocking: call it through ``asyncio.to_thread`` from the GUI.

``content``
    ``CampaignContent`` (frozen): subject, from_name, from_address, reply_to, html, text,
    headers, attachments (paths), unsubscribe_mailto, unsubscribe_url.
    ``check_fields(content, ledger, campaign_id) -> list[MissingField]``: each template
    field some recipients lack, with the first such recipient.
    ``Renderer(content)``: compiled once; ``render(fields) -> EmailMessage`` (``fields``
    holds ``email``; built by ``mime.MimeTemplate``, ten times faster than the ``email``
    package, which ``render_standard`` still uses and non-ASCII addresses fall back to).
    ``preview(content, fields) -> Preview`` (subject, html, text, message bytes).
    ``recipient_fields(email, fields)`` makes the mapping a template sees.

``actions``
    What a user may do with a campaign, from its stored state: ``campaign_status(ledger,
    id) -> CampaignStatus`` (state, or ``interrupted``; counts; who sends it),
    ``allowed_actions``, ``unfinished`` (to resume); ``edit_campaign``,
    ``duplicate_campaign``, ``delete_campaign``, ``cancel_campaign``, ``retry_failed``,
    each refusing what the state does not allow. The GUI and the CLI both act through it.

``review``
    Before sending (the wizard's Review, ``campaign create``, the engine's start):
    ``field_problems(content, columns)``: each field that is no column, with a close
    match; ``template_fields(email, fields, blank_fields(columns))``: an empty cell
    renders empty; ``render_all`` renders every recipient once (``RenderProgress``
    to follow or stop it from another thread); ``review(...) -> Review`` (errors block
    Send, warnings); ``start_problem(store, id)``; ``effective_rate``.

``drafts``
    The wizard's drafts: ``import_into_draft``, ``load_draft`` (edit a stored campaign),
    ``save_draft`` (through ``actions.edit_campaign``; a new file's recipients replace
    the campaign's only then).

``trial``
    ``send_test(store, content, (email, fields), columns, messenger, addresses)``: a
    recipient's message to each address, one outcome each; ``parse_addresses``.

``suppressions``
    ``SuppressionList(store)``: ``suppress(emails, reason)``, ``unsuppress(emails)``,
    ``import_suppressions(path, reason) -> int``, ``suppressed() -> list[Suppression]``.

``ledger``
    ``Ledger(store)``: ``create_campaign(name, content, *, messenger, concurrency, ...) -> int``,
    ``campaign(id) -> Campaign``, ``list_campaigns()``, ``counts(id) -> Counts``,
    ``recipients(id, state=None, offset=0, limit=100) -> list[Recipient]`` (paged),
    ``recipient_count(id, state=None)``,
    ``retry_failed(id, temporary_only=True, include_unknown=False) -> int`` (a run that is
    going picks them up), ``runner_active(id)`` (a live process holds the run's lease),
    ``export_csv(id, path) -> int``, ``page_starts``/``recipients_from`` (keyset paging).
    ``Campaign.interrupted``: stored as running but its process is gone (lease expired).
    States: ``RecipientState`` (pending, sending, sent, failed, skipped, unknown: sent
    without a final reply) and
    ``CampaignState`` (importing: being created, never sent, removed if the import is cut
    short; draft, scheduled: waiting for ``send_at``, running, paused, finished, cancelled).

``engine``
    ``CampaignRunner(store, campaign_id, *, on_progress=None, sender=None)``:
    ``await run()`` sends until finished, paused or cancelled and returns the final
    ``CampaignState``; ``pause(reason)``, ``cancel()`` request a stop (in-flight
    messages finish); after a pause, ``await run()`` again resumes. ``state``.
    ``blocked``: the diagnosis when the run paused because no server could take any
    message (the CLI exits 3); ``greylist_delay`` and ``pool_options`` (ServerPool's
    time-outs and back-offs) are for tests and tuning.
    ``Progress`` (frozen): counts per state, total, rate, elapsed, eta, servers
    (``ServerStats``), errors (``ErrorGroup``: cause, message, hints, count, samples),
    state and pause_reason. ``on_progress`` is called at most 10 times a second, on the
    event loop's thread.

``progress``
    ``Progress`` and ``ErrorGroup`` (the engine's events), ``Tally`` (its counters).

``limits``
    ``MessageRate`` (a rate never exceeded in any 1 s: ``TokenBucket``, a start window
    and a ``ReplyWindow``), ``SlidingWindow``, ``QuotaCounter`` (per-server hourly/daily
    counts in SQLite, leased 20 at a time) and ``ServerGate`` (the messenger's ``eligible``).

``writer``
    ``LedgerWriter``: the one thread that writes a running campaign's ledger, in batches.

Campaign settings start from ``store.app_settings()``.
"""
