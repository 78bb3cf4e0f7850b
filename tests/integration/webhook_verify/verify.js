#!/usr/bin/env node
// Verifies one captured webhook request with the Standard Webhooks reference library, as a
// receiver would. Reads one JSON object on stdin:
//   {"secret": "whsec_...", "id": "...", "timestamp": "...", "signature": "...", "body_b64": "..."}
// (id, timestamp and signature are the webhook-* header values; the body is base64 because it
// is bytes). Exit 0: valid; 1: rejected (the library's reason on stderr); 2: bad input.
"use strict";
const { Webhook, WebhookVerificationError } = require("standardwebhooks");

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  let req;
  try {
    req = JSON.parse(input);
  } catch (e) {
    console.error(`verify.js: stdin is not JSON: ${e.message}`);
    process.exit(2);
  }
  const headers = {
    "webhook-id": req.id,
    "webhook-timestamp": req.timestamp,
    "webhook-signature": req.signature,
  };
  try {
    // Bytes, not a string: the signature covers the exact body, whatever its encoding.
    new Webhook(req.secret).verify(Buffer.from(req.body_b64 || "", "base64"), headers, {
      jsonParse: false,
    });
  } catch (e) {
    console.error(`rejected: ${e.message}`);
    process.exit(e instanceof WebhookVerificationError ? 1 : 2);
  }
  console.log("valid");
  process.exit(0);
});
