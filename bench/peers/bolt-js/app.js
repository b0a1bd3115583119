// Peer for the chatdeploy receive-path benchmark (bench/run.sh).
//
// Bolt for JavaScript with its default HTTPReceiver: it verifies the v0
// signature, parses the event, routes app_mention to the handler below, which
// matches the text with the same regex as the Rust receivers. No Slack Web API
// call is ever made: `authorize` answers locally, so Bolt needs no network.
//
// Usage: node app.js [PORT]   (or PORT=...; SLACK_SIGNING_SECRET=... required)
'use strict';

const { App, LogLevel } = require('@slack/bolt');

const port = Number(process.argv[2] || process.env.PORT || 3000);
const signingSecret = process.env.SLACK_SIGNING_SECRET;
if (!signingSecret) {
  console.error('SLACK_SIGNING_SECRET is required');
  process.exit(2);
}

const COMMAND = /^<@U[A-Z0-9]+>\s+(\w+)/;
let matched = 0;

const app = new App({
  signingSecret,
  // Local authorization: no auth.test, no token verification, no network.
  authorize: async () => ({ botToken: 'xoxb-bench', botId: 'B0BOT', botUserId: 'U0BOT' }),
  logLevel: LogLevel.ERROR,
});

app.event('app_mention', async ({ event }) => {
  const m = COMMAND.exec(event.text);
  if (m !== null) matched += 1;
});

process.on('SIGTERM', () => {
  console.log(`matched ${matched}`);
  process.exit(0);
});

(async () => {
  await app.start(port);
  console.log(`bolt-js ready on http://127.0.0.1:${port}/slack/events`);
})();
