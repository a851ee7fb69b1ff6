// check-stack as it would be written in Node.js, the usual Lambda runtime: Node.js and the AWS SDK v3.
// The benchmark's baseline for init, warm time and memory; same work as the Rust task (validate,
// DescribeStacks, decide). The client is built at init, as stackgate builds its clients.
import { CloudFormationClient, DescribeStacksCommand } from "@aws-sdk/client-cloudformation";

const cloudformation = new CloudFormationClient({});
const NAME = /^[A-Za-z][A-Za-z0-9-]{0,127}$/;
const RECREATE = new Set(["ROLLBACK_COMPLETE", "CREATE_FAILED", "ROLLBACK_FAILED", "DELETE_FAILED"]);

export const handler = async (event) => {
  const request = event.request ?? {};
  for (const field of ["environmentName", "stackName"]) {
    if (typeof request[field] !== "string" || !NAME.test(request[field])) {
      throw new Error(`request.${field} is missing or not a valid name`);
    }
  }
  const name = `${request.environmentName}-${request.stackName}`;
  let stack;
  try {
    stack = (await cloudformation.send(new DescribeStacksCommand({ StackName: name }))).Stacks[0];
  } catch (error) {
    if (String(error.message).includes("does not exist")) {
      return { stack: { stackName: name, action: "CREATE", changeSetType: "CREATE" } };
    }
    throw error;
  }
  const status = stack.StackStatus;
  if (status.endsWith("_IN_PROGRESS") && status !== "REVIEW_IN_PROGRESS") {
    throw new Error(`stack ${name} is busy (${status})`);
  }
  const action = RECREATE.has(status) ? "RECREATE" : "UPDATE";
  const outputs = Object.fromEntries((stack.Outputs ?? []).map((o) => [o.OutputKey, o.OutputValue]));
  return {
    stack: {
      stackName: name,
      action,
      changeSetType: action === "RECREATE" ? "CREATE" : "UPDATE",
      stackId: stack.StackId,
      status,
      outputs,
    },
  };
};
