"""``cctvctl serve``: the video team's HTTP API (needs ``pip install 'cctvctl[serve]'``).

Imported only by the ``serve`` command, so the CLI's start-up never loads Starlette or uvicorn.
"""
