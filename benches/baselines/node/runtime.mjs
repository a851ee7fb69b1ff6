// A minimal Lambda Runtime API loop in plain Node.js, used only when the npm runtime interface
// client (aws-lambda-ric) cannot be installed (it compiles curl and aws-lambda-cpp and needs
// cmake and autotools). Lighter than the real client, so ratios against it favour Node.
import { handler } from "./index.mjs";

const api = `http://${process.env.AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation`;

for (;;) {
  const next = await fetch(`${api}/next`);
  const id = next.headers.get("lambda-runtime-aws-request-id");
  const event = await next.json();
  try {
    const result = await handler(event, { awsRequestId: id });
    await fetch(`${api}/${id}/response`, { method: "POST", body: JSON.stringify(result) });
  } catch (error) {
    const body = JSON.stringify({ errorType: error.name, errorMessage: error.message });
    await fetch(`${api}/${id}/error`, { method: "POST", body });
  }
}
