"""The sending process and its local channel (issue 13, section 3).

A campaign is sent by a process of its own (``smtpdesk campaign serve ID``, the same engine
as ``campaign send``), so closing the window need not stop it. That process listens on
127.0.0.1 and writes where (port and a random token) to ``<data dir>/senders/<id>.json``;
the GUI and the CLI follow it there: progress, the end, and pause or cancel requests.

- ``channel.py``: the wire (JSON lines) and the channel file.
- ``sender.py``: :func:`serve`, run inside the sending process.
- ``follower.py``: :func:`start_sender`, :func:`follow`, :class:`Follower`, :func:`request`.
"""
