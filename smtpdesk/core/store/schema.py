"""The tables, in SQLAlchemy Core. Alembic revisions in ``migrations/`` create them."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

metadata = MetaData()

servers = Table(
    "servers",
    metadata,
    Column("uuid", String(36), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("name", String, nullable=False),
    Column("host", String, nullable=False),
    Column("port", Integer, nullable=False),
    Column("auth_protocol", String, nullable=False),
    Column("username", String, nullable=False),
    Column("tls_type", String, nullable=False),
    Column("tls_skip_verify", Boolean, nullable=False),
    Column("tls_pin_sha256", String, nullable=False, server_default=""),
    Column("hello_hostname", String, nullable=False),
    Column("max_conns", Integer, nullable=False),
    Column("idle_timeout", Float, nullable=False),
    Column("wait_timeout", Float, nullable=False),
    Column("max_msg_retries", Integer, nullable=False),
    Column("msg_retry_delay", Float, nullable=False),
    Column("email_headers", JSON, nullable=False),
    Column("max_per_second", Float),
    Column("max_per_hour", Integer),
    Column("max_per_day", Integer),
    # OAuth sign-in (issue 11); tokens and the client secret are in the keyring only.
    Column("oauth_provider", String, nullable=False, server_default="google"),
    Column("oauth_tenant", String, nullable=False, server_default="common"),
    Column("oauth_client_id", String, nullable=False, server_default=""),
    Column("oauth_authorize_url", String, nullable=False, server_default=""),
    Column("oauth_token_url", String, nullable=False, server_default=""),
    Column("oauth_scopes", JSON, nullable=False, server_default="[]"),
    # DKIM signing (issue 14); the private key is in the keyring only.
    Column("dkim_enabled", Boolean, nullable=False, server_default="0"),
    Column("dkim_domain", String, nullable=False, server_default=""),
    Column("dkim_selector", String, nullable=False, server_default=""),
    Column("dkim_algorithm", String, nullable=False, server_default="rsa"),
)

# The last server test of each saved server (issue 10): the list's dot survives a restart.
server_tests = Table(
    "server_tests",
    metadata,
    Column(
        "server_uuid",
        String(36),
        ForeignKey("servers.uuid", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("ok", Boolean, nullable=False),
    Column("tested_at", Float, nullable=False),  # epoch seconds
    Column("summary", Text, nullable=False),  # the diagnosis or "passed", for the tooltip
)

app_settings = Table(
    "app_settings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("concurrency", Integer, nullable=False),
    Column("message_rate", Float, nullable=False),
    Column("max_send_errors", Integer, nullable=False),
    Column("sliding_window", Boolean, nullable=False),
    Column("sliding_window_rate", Integer, nullable=False),
    Column("sliding_window_duration", Float, nullable=False),
    Column("dns_server", String, nullable=False, server_default=""),  # issue 14
    Column("worker_processes", Integer, nullable=True),  # issue 13: None is "auto"
)

# --- campaigns (issue 4): the delivery ledger -----------------------------------------

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String, nullable=False),
    Column("state", String, nullable=False),  # draft, running, paused, finished, cancelled
    Column("pause_reason", String, nullable=False, default=""),
    Column("content", JSON, nullable=False),  # CampaignContent.to_dict()
    Column("messenger", String, nullable=False),
    Column("concurrency", Integer, nullable=False),
    Column("message_rate", Float, nullable=False),
    Column("sliding_window", Boolean, nullable=False),
    Column("sliding_window_rate", Integer, nullable=False),
    Column("sliding_window_duration", Float, nullable=False),
    Column("max_send_errors", Integer, nullable=False),
    Column("send_at", Float),  # epoch seconds; None sends at once
    Column("fields", JSON, nullable=False),  # the template fields the recipients carry
    Column("created_at", Float, nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("runner_pid", Integer),  # the process sending it, so a second one refuses
    Column("runner_heartbeat", Float),  # when that process last renewed its lease (epoch s)
    # {field: how many recipients carry it}, kept by each import; NULL: not counted yet
    Column("field_counts", JSON),
)

recipients = Table(
    "recipients",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("campaign_id", Integer, ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
    Column("line", Integer, nullable=False),  # the line in the imported file
    Column("email", String, nullable=False),
    Column("fields", JSON, nullable=False),
    Column("state", String, nullable=False),  # pending, sending, sent, failed, skipped
    Column("attempts", Integer, nullable=False, default=0),
    Column("error", Text, nullable=False, default=""),
    Column("cause", String, nullable=False, default=""),
    Column("temporary", Boolean, nullable=False, default=False),
    Column("server_uuid", String, nullable=False, default=""),
    Column("sent_at", Float),
    Column("reply", Text, nullable=False, default=""),
    # issue 12: what the mailbox learnt after the send. message_id: the Message-ID sent;
    # token: the signed unsubscribe token; feedback: bounced, complained, unsubscribed
    Column("message_id", String),
    Column("token", String),
    Column("feedback", String, nullable=False, server_default=""),
    Column("feedback_kind", String, nullable=False, server_default=""),  # hard, soft
    Column("feedback_at", Float),
    Column("feedback_status", Text, nullable=False, server_default=""),  # the raw status
    Index("ix_recipients_campaign_state", "campaign_id", "state"),  # ends in the rowid (id)
    Index("ix_recipients_campaign_id", "campaign_id", "id"),
    Index("ix_recipients_message_id", "message_id"),
)

suppressions = Table(
    "suppressions",
    metadata,
    Column("email", String, primary_key=True),  # lower-cased
    Column("reason", String, nullable=False),  # unsubscribed, bounced, manual, file
    Column("added_at", Float, nullable=False),
    Column("source", String, nullable=False, server_default=""),  # the feedback's Message-ID
)

server_sends = Table(
    "server_sends",
    metadata,
    Column("server_uuid", String(36), nullable=False),
    Column("minute", Integer, nullable=False),  # epoch seconds // 60
    Column("count", Integer, nullable=False),
    PrimaryKeyConstraint("server_uuid", "minute"),
)


# --- the feedback mailbox (issue 12) ----------------------------------------------------

mailbox_settings = Table(
    "mailbox_settings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("data", JSON, nullable=False),  # MailboxSettings.to_dict(); no password
)

# Every message read: its key (the Message-ID, else a digest of its head) with what it was,
# so a re-scan or a scan after a crash never counts one twice.
mailbox_processed = Table(
    "mailbox_processed",
    metadata,
    Column("key", String, primary_key=True),
    Column("kind", String, nullable=False),  # hard, soft, complaint, unsubscribe, ignored...
    Column("processed_at", Float, nullable=False),
)

# Per IMAP folder: the UIDVALIDITY and the highest UID read, where the next scan starts.
mailbox_cursor = Table(
    "mailbox_cursor",
    metadata,
    Column("folder", String, primary_key=True),
    Column("uidvalidity", Integer, nullable=False),
    Column("last_uid", Integer, nullable=False),
)

# One line per bounce, complaint or unsubscribe request: soft bounces are counted here.
feedback_events = Table(
    "feedback_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String, nullable=False),  # lower-cased
    Column("kind", String, nullable=False),  # hard, soft, complaint, unsubscribe
    Column("campaign_id", Integer),
    Column("recipient_id", Integer),
    Column("status", Text, nullable=False),
    Column("source", String, nullable=False),  # the feedback message's key
    Column("at", Float, nullable=False),
    Index("ix_feedback_events_email", "email", "kind"),
)

mailbox_scans = Table(
    "mailbox_scans",
    metadata,
    Column("id", Integer, primary_key=True),  # 1: the last scan
    Column("finished_at", Float, nullable=False),
    Column("result", JSON, nullable=False),  # counts, or the error
)

# Saved layouts (issue 15): HTML around a campaign's {{ content }}; see core/campaign/layouts.py
layouts = Table(
    "layouts",
    metadata,
    Column("name", String, primary_key=True),
    Column("html", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)
