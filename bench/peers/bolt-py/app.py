"""Peer for the chatdeploy receive-path benchmark (bench/run.sh).

Bolt for Python: AsyncApp behind its ASGI adapter, served by uvicorn with
uvloop and httptools. Signature verification is on; app_mention is routed to
the handler below, which matches the text with the same regex as the Rust
receivers. No Slack Web API call is ever made: `authorize` answers locally.

Usage: python app.py [PORT]   (or PORT=...; SLACK_SIGNING_SECRET=... required)
"""

import os
import re
import signal
import sys

import uvicorn
from slack_bolt.adapter.asgi.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult

COMMAND = re.compile(r"^<@U[A-Z0-9]+>\s+(\w+)")
matched = 0


async def authorize(enterprise_id, team_id, user_id, logger):
    """Local authorization: no auth.test, no token verification, no network."""
    return AuthorizeResult(
        enterprise_id=enterprise_id,
        team_id=team_id,
        bot_token="xoxb-bench",
        bot_id="B0BOT",
        bot_user_id="U0BOT",
    )


app = AsyncApp(
    signing_secret=os.environ["SLACK_SIGNING_SECRET"],
    authorize=authorize,
    request_verification_enabled=True,
)


@app.event("app_mention")
async def on_mention(event):
    global matched
    if COMMAND.match(event.get("text", "")):
        matched += 1


api = AsyncSlackRequestHandler(app)


def report_and_exit(signum, frame):
    print(f"matched {matched}", flush=True)
    sys.exit(0)


def main() -> None:
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT", "3000"))
    # uvicorn restores this handler and re-raises SIGTERM once it has shut down.
    signal.signal(signal.SIGTERM, report_and_exit)
    print(f"bolt-py ready on http://127.0.0.1:{port}/slack/events", flush=True)
    uvicorn.run(
        api,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
