"""Tests of scripts/moto_iam.py on a moto server in this process: a function's key runs under its role,
every other key keeps full access, and a denial reaches each protocol's clients in AWS's shape."""

import json
import logging
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402
from moto.core.config import default_user_config  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

import moto_iam  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FunctionRoles(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        os.environ.pop("STACKGATE_IAM", None)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        moto_iam.mend_iam_enforcement()
        moto_iam.mend_policy_evaluation()
        moto_iam.mend_state_machine_credentials()
        port = free_port()
        # The interpreter calls back into this server; its executions run for real.
        cls.moto_port = os.environ.get("MOTO_PORT")
        os.environ["MOTO_PORT"] = str(port)
        default_user_config["stepfunctions"]["execute_state_machine"] = True
        cls.server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        cls.server.start()
        host, port = cls.server.get_host_and_port()
        cls.endpoint = f"http://{host}:{port}"
        iam = cls.client("iam")
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                "Principal": {"Service": "lambda.amazonaws.com"}}]}
        iam.create_role(RoleName="PlanFunctionRole", AssumeRolePolicyDocument=json.dumps(trust),
                        Tags=[{"Key": moto_iam.ACCESS_KEY_TAG, "Value": "stackgate-function-plan"}])
        iam.put_role_policy(RoleName="PlanFunctionRole", PolicyName="read", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "dynamodb:GetItem",
                 "Resource": "arn:aws:dynamodb:us-east-1:123456789012:table/Ledger"},
                {"Effect": "Allow", "Action": "S3:GetObject", "Resource": "arn:aws:s3:::allowed/*"},
                {"Effect": "Allow", "Action": "cloudformation:DescribeStacks", "Resource": "*",
                 "Condition": {"StringEquals": {"aws:PrincipalTag/team": "platform"}}},
            ]}))
        cls.client("dynamodb").create_table(
            TableName="Ledger", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
        for table in ("Ledger", "Other"):
            if table == "Other":
                cls.client("dynamodb").create_table(
                    TableName=table, BillingMode="PAY_PER_REQUEST",
                    KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
        s3 = cls.client("s3")
        for bucket in ("allowed", "other"):
            s3.create_bucket(Bucket=bucket)
            s3.put_object(Bucket=bucket, Key="t.yaml", Body=b"x")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        default_user_config["stepfunctions"]["execute_state_machine"] = False
        if cls.moto_port is None:
            os.environ.pop("MOTO_PORT", None)
        else:
            os.environ["MOTO_PORT"] = cls.moto_port

    @classmethod
    def client(cls, service, key="test"):
        return boto3.client(service, region_name="us-east-1", endpoint_url=cls.endpoint,
                            aws_access_key_id=key, aws_secret_access_key="test",
                            config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}))

    def denied(self, call):
        with self.assertRaises(ClientError) as caught:
            call()
        return caught.exception.response["Error"]

    def test_a_function_runs_under_its_role(self):
        plan = "stackgate-function-plan"
        self.client("dynamodb", plan).get_item(TableName="Ledger", Key={"id": {"S": "a"}})
        self.client("s3", plan).get_object(Bucket="allowed", Key="t.yaml")
        # A condition key this patch does not evaluate does not deny.
        self.client("cloudformation", plan).describe_stacks()

    def test_what_its_role_does_not_grant_is_denied_in_each_protocols_shape(self):
        plan = "stackgate-function-plan"
        error = self.denied(lambda: self.client("dynamodb", plan).put_item(
            TableName="Ledger", Item={"id": {"S": "a"}}))
        self.assertEqual(error["Code"], "AccessDeniedException")
        self.assertIn("dynamodb:PutItem", error["Message"])
        self.assertIn("assumed-role/PlanFunctionRole/plan", error["Message"])
        self.assertEqual(self.denied(lambda: self.client("s3", plan).get_object(
            Bucket="other", Key="t.yaml"))["Code"], "AccessDenied")
        self.assertEqual(self.denied(lambda: self.client("sns", plan).list_topics())["Code"], "AccessDenied")
        # The query protocol's shape exactly (no <Errors> wrapper), which stricter clients than boto3
        # (the Rust SDK) need to find the code.
        bodies = []
        cloudformation = self.client("cloudformation", plan)
        cloudformation.meta.events.register("after-call.*", lambda http_response, **_: bodies.append(
            http_response.content))
        self.denied(lambda: cloudformation.list_stacks())
        self.assertIn(b"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>", bodies[0])
        self.assertEqual(self.denied(lambda: self.client("stepfunctions", plan).list_state_machines())["Code"],
                         "AccessDeniedException")

    def test_resources_are_evaluated_where_the_request_names_them(self):
        plan = "stackgate-function-plan"
        error = self.denied(lambda: self.client("dynamodb", plan).get_item(
            TableName="Other", Key={"id": {"S": "a"}}))
        self.assertEqual(error["Code"], "AccessDeniedException")
        self.assertEqual(moto_iam._stack("prod-app", "us-east-1", "1"),
                         "arn:aws:cloudformation:us-east-1:1:stack/prod-app/*")
        self.assertEqual(moto_iam._ssm_parameter("/stackgate/key", "us-east-1", "1"),
                         "arn:aws:ssm:us-east-1:1:parameter/stackgate/key")

    def test_the_managed_stack_rule_holds_in_iam_too(self):
        """A stack's tags and a call's tags are evaluated as IAM does: the role may create change sets
        only with stackgate's tags, and delete them only on stacks that carry its tag."""
        iam = self.client("iam")
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                         "Principal": {"Service": "lambda.amazonaws.com"}}]}
        iam.create_role(RoleName="ManagedOnlyRole", AssumeRolePolicyDocument=json.dumps(trust),
                        Tags=[{"Key": moto_iam.ACCESS_KEY_TAG, "Value": "stackgate-function-managed"}])
        iam.put_role_policy(RoleName="ManagedOnlyRole", PolicyName="p", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "cloudformation:CreateChangeSet", "Resource": "*",
                 "Condition": {"StringEquals": {"aws:RequestTag/stackgate:managed": "true",
                                                "aws:RequestTag/stackgate:environment": ["dev", "prod"]}}},
                {"Effect": "Allow", "Action": "cloudformation:DeleteChangeSet", "Resource": "*",
                 "Condition": {"StringEquals": {"aws:ResourceTag/stackgate:managed": "true"}}},
            ]}))
        template = json.dumps({"Resources": {"T": {"Type": "AWS::SNS::Topic"}}})
        role = self.client("cloudformation", "stackgate-function-managed")
        managed = [{"Key": "stackgate:managed", "Value": "true"}, {"Key": "stackgate:environment", "Value": "dev"}]
        role.create_change_set(StackName="dev-app", ChangeSetName="c1", TemplateBody=template,
                               ChangeSetType="CREATE", Tags=managed)
        role.delete_change_set(StackName="dev-app", ChangeSetName="c1")
        for tags in ([], [managed[0]], [managed[0], {"Key": "stackgate:environment", "Value": "qa"}]):
            error = self.denied(lambda: role.create_change_set(
                StackName="dev-other", ChangeSetName="c1", TemplateBody=template,
                ChangeSetType="CREATE", Tags=tags))
            self.assertEqual(error["Code"], "AccessDenied", tags)
        # A stack someone else made, without stackgate's tag: its change sets are not the role's.
        self.client("cloudformation").create_change_set(
            StackName="dev-theirs", ChangeSetName="c1", TemplateBody=template, ChangeSetType="CREATE")
        error = self.denied(lambda: role.delete_change_set(StackName="dev-theirs", ChangeSetName="c1"))
        self.assertEqual(error["Code"], "AccessDenied")

    def test_a_deleted_stack_named_by_id_keeps_its_tags(self):
        """A DeleteStack retried after its answer was lost names a stack that is gone: by its id, the
        stack's tags still hold (AWS keeps them), so the retry is allowed and changes nothing."""
        iam = self.client("iam")
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                         "Principal": {"Service": "lambda.amazonaws.com"}}]}
        iam.create_role(RoleName="DeleterRole", AssumeRolePolicyDocument=json.dumps(trust),
                        Tags=[{"Key": moto_iam.ACCESS_KEY_TAG, "Value": "stackgate-function-deleter"}])
        iam.put_role_policy(RoleName="DeleterRole", PolicyName="p", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "cloudformation:DeleteStack", "Resource": "*",
                           "Condition": {"StringEquals": {"aws:ResourceTag/stackgate:managed": "true"}}}]}))
        template = json.dumps({"Resources": {"T": {"Type": "AWS::SNS::Topic"}}})
        admin = self.client("cloudformation")
        managed = admin.create_stack(StackName="dev-gone", TemplateBody=template,
                                     Tags=[{"Key": "stackgate:managed", "Value": "true"}])["StackId"]
        theirs = admin.create_stack(StackName="dev-theirs-gone", TemplateBody=template)["StackId"]
        role = self.client("cloudformation", "stackgate-function-deleter")
        role.delete_stack(StackName=managed)
        role.delete_stack(StackName=managed)
        admin.delete_stack(StackName=theirs)
        error = self.denied(lambda: role.delete_stack(StackName=theirs))
        self.assertEqual(error["Code"], "AccessDenied")
        # Only reading and deleting again: nothing else acts on a deleted stack under its old tags.
        self.assertEqual(moto_iam.stack_tags(managed, "us-east-1", "123456789012"), {})
        self.assertEqual(moto_iam.stack_tags(managed, "us-east-1", "123456789012", with_deleted=True),
                         {"stackgate:managed": "true"})

    def test_conditions_evaluate_as_iam_does(self):
        context = {"families": moto_iam.EVALUATED_KEYS, "aws:resourcetag/team": ["a"]}
        met = lambda condition: moto_iam.conditions_met({"Condition": condition}, context)  # noqa: E731
        self.assertTrue(met({"StringEquals": {"aws:ResourceTag/team": ["a", "b"]}}))
        self.assertFalse(met({"StringEquals": {"aws:ResourceTag/Owner": "a"}}), "an absent key")
        self.assertTrue(met({"StringEqualsIfExists": {"aws:ResourceTag/Owner": "a"}}))
        self.assertTrue(met({"StringNotEquals": {"aws:ResourceTag/Owner": "a"}}))
        self.assertTrue(met({"StringLike": {"aws:ResourceTag/team": "*"}}))
        self.assertFalse(met({"NumericLessThan": {"aws:ResourceTag/team": "1"}}), "unknown: closed")
        self.assertTrue(met({"StringEquals": {"iam:PassedToService": "x"}}), "not evaluated here")
        self.assertTrue(met({"Null": {"aws:ResourceTag/Owner": "true"}}))
        self.assertFalse(met({"Null": {"aws:ResourceTag/team": "true"}}))
        self.assertTrue(met({"StringNotEqualsIgnoreCase": {"aws:ResourceTag/team": "B"}}))
        self.assertFalse(met({"StringNotEqualsIgnoreCase": {"aws:ResourceTag/team": "A"}}))
        self.assertTrue(met({"ForAnyValue:StringEquals": {"aws:ResourceTag/team": ["a", "z"]}}))
        # For a Deny, an operator this code does not know applies: closed is denied, not allowed.
        deny = {"Effect": "Deny", "Condition": {"NumericLessThan": {"aws:ResourceTag/team": "1"}}}
        self.assertTrue(moto_iam.conditions_met(deny, context))

    def test_a_function_key_no_role_carries_is_refused(self):
        for key in ("stackgate-function-unknown", "stackgate-role-Unknown"):
            error = self.denied(lambda: self.client("sns", key).list_topics())
            self.assertEqual(error["Code"], "InvalidClientTokenId")

    def test_a_key_two_roles_carry_is_refused(self):
        iam = self.client("iam")
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                         "Principal": {"Service": "lambda.amazonaws.com"}}]}
        for name in ("TwinA", "TwinB"):
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust),
                            Tags=[{"Key": moto_iam.ACCESS_KEY_TAG, "Value": "stackgate-function-twin"}])
        error = self.denied(lambda: self.client("sns", "stackgate-function-twin").list_topics())
        self.assertEqual(error["Code"], "InvalidClientTokenId")

    def test_every_other_key_keeps_full_access(self):
        for key in ("test", "stackgate-function", "ak", "stackgate-functionary"):
            self.client("sns", key).list_topics()
            self.client("dynamodb", key).put_item(TableName="Ledger", Item={"id": {"S": key}})

    def test_a_state_machines_calls_run_under_its_role(self):
        iam = self.client("iam")
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                         "Principal": {"Service": "states.amazonaws.com"}}]}
        iam.create_role(RoleName="DeployStateMachineRole", AssumeRolePolicyDocument=json.dumps(trust))
        topic = self.client("sns").create_topic(Name="Notify")["TopicArn"]
        iam.put_role_policy(RoleName="DeployStateMachineRole", PolicyName="notify", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "sns:Publish", "Resource": topic}]}))
        definition = {"StartAt": "Notify", "States": {
            "Notify": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish",
                       "Parameters": {"TopicArn": topic, "Message": "m"}, "ResultPath": None, "Next": "List"},
            "List": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:dynamodb:listTables",
                     "Parameters": {}, "End": True}}}
        sfn = self.client("stepfunctions")
        machine = sfn.create_state_machine(
            name="Deploy", definition=json.dumps(definition),
            roleArn="arn:aws:iam::123456789012:role/DeployStateMachineRole")["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=machine)["executionArn"]
        for _ in range(100):
            described = sfn.describe_execution(executionArn=execution)
            if described["status"] != "RUNNING":
                break
            time.sleep(0.1)
        self.assertEqual(described["status"], "FAILED", described)
        history = sfn.get_execution_history(executionArn=execution)["events"]
        failed = [e["taskFailedEventDetails"] for e in history if e["type"] == "TaskFailed"]
        self.assertEqual(len(failed), 1, history)
        self.assertIn("assumed-role/DeployStateMachineRole/", failed[0].get("cause", ""))
        self.assertIn("is not authorized to perform: dynamodb:ListTables", failed[0].get("cause", ""))
        succeeded = [e for e in history if e["type"] == "TaskSucceeded"]
        self.assertEqual(len(succeeded), 1, "the granted sns:Publish went through")

    def test_action_names_are_iams(self):
        self.assertEqual(moto_iam.iam_action("lambda:Invoke"), "lambda:InvokeFunction")
        self.assertEqual(moto_iam.iam_action("monitoring:DescribeAlarms"), "cloudwatch:DescribeAlarms")
        self.assertEqual(moto_iam.iam_action("states:StartExecution"), "states:StartExecution")


if __name__ == "__main__":
    unittest.main()
