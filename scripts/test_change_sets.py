"""Unit tests of scripts/change_sets.py, and of the change sets moto answers with it (run by
scripts/test.sh with the moto venv's python). The expected shapes follow AWS's documented
DescribeChangeSet examples ("Example change sets" in the CloudFormation user guide)."""

import importlib.util
import json
import pathlib
import unittest

import change_sets as cs

HERE = pathlib.Path(__file__).parent
PSEUDO = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::StackName": "s"}

# The shape of AWS's sample DynamoDB_Table.yaml: the key schema and capacity come from parameters.
TABLE = (HERE.parent / "examples" / "templates" / "dynamodb-table.yaml").read_text()


def changes(old, old_parameters, new, new_parameters, physical_ids=None):
    return cs.compute_changes(
        cs.load_template(old), old_parameters, cs.load_template(new), new_parameters, PSEUDO,
        physical_ids or {},
    )


def by_id(found):
    return {c["LogicalResourceId"]: c for c in found}


def detail(change, name):
    return next(d for d in change["Details"] if d["Target"].get("Name") == name)


class Templates(unittest.TestCase):
    def test_short_forms_become_long_forms(self):
        template = cs.load_template(
            "A: !Ref X\nB: !GetAtt T.Arn\nC: !Sub ['${a}', {a: !Ref Y}]\nD: !If [Cond, !Ref Z, 'n']\n"
            "E: !Condition C\nF: 2010-09-09\nG: yes\n200: {1: x}\n"
        )
        # YAML 1.1 as CloudFormation reads it; dates as written; every key a string.
        self.assertEqual((template["F"], template["G"], template["200"]), ("2010-09-09", True, {"1": "x"}))
        self.assertEqual(template["A"], {"Ref": "X"})
        self.assertEqual(template["B"], {"Fn::GetAtt": ["T", "Arn"]})
        self.assertEqual(template["C"], {"Fn::Sub": ["${a}", {"a": {"Ref": "Y"}}]})
        self.assertEqual(template["D"], {"Fn::If": ["Cond", {"Ref": "Z"}, "n"]})
        self.assertEqual(template["E"], {"Condition": "C"})

    def test_json_and_nothing(self):
        self.assertEqual(cs.load_template('{"Resources": {}}'), {"Resources": {}})
        self.assertEqual(cs.load_template(""), {})
        self.assertEqual(cs.load_template("- a list"), {})


class Resolution(unittest.TestCase):
    def side(self, template, parameters=None):
        return cs.Side(cs.load_template(template), parameters or {}, PSEUDO,
                       lambda r: f"physical-{r}", lambda r, a: cs.Symbol(f"{r}.{a}"))

    def test_parameters_defaults_lists_and_pseudo_parameters(self):
        side = self.side(
            "Parameters:\n  A: {Type: String, Default: x}\n  L: {Type: CommaDelimitedList}\n"
            "  N: {Type: Number, Default: 5}\n",
            {"L": "a,b"},
        )
        self.assertEqual(side.resolve({"Ref": "A"}), "x")
        self.assertEqual(side.resolve({"Ref": "L"}), ["a", "b"])
        self.assertEqual(side.resolve({"Ref": "N"}), "5")
        self.assertEqual(side.resolve({"Fn::Sub": "${AWS::Region}-${A}-${!Literal}"}), "us-east-1-x-${Literal}")

    def test_functions_over_known_values_are_computed(self):
        side = self.side(
            "Parameters:\n  Env: {Type: String, Default: prod}\n"
            "Mappings:\n  Sizes: {prod: {Capacity: 10}}\n"
            "Conditions:\n  IsProd: !Equals [!Ref Env, prod]\n  NotProd: !Not [!Condition IsProd]\n"
            "Resources:\n  T: {Type: AWS::SNS::Topic}\n"
        )
        self.assertEqual(side.resolve({"Fn::FindInMap": ["Sizes", {"Ref": "Env"}, "Capacity"]}), "10")
        self.assertEqual(side.resolve({"Fn::If": ["IsProd", "big", "small"]}), "big")
        self.assertEqual(side.resolve({"Fn::If": ["NotProd", "big", {"Ref": "AWS::NoValue"}]}), cs.NO_VALUE)
        self.assertEqual(side.resolve({"Fn::Join": ["-", ["a", {"Ref": "Env"}]]}), "a-prod")
        self.assertEqual(side.resolve({"Fn::Select": ["1", {"Fn::Split": [",", "a,b"]}]}), "b")
        self.assertEqual(side.resolve({"Ref": "T"}), "physical-T")
        self.assertEqual(side.resolve({"Fn::Sub": "${T.TopicName}"}), cs.Symbol("T.TopicName"))
        self.assertEqual(side.resolve({"A": {"Ref": "AWS::NoValue"}, "B": [1, {"Ref": "AWS::NoValue"}]}),
                         {"B": ["1"]})

    def test_what_cannot_be_computed_compares_by_expression(self):
        side = self.side("{}")
        self.assertEqual(side.resolve({"Fn::GetAZs": ""}), side.resolve({"Fn::GetAZs": ""}))
        self.assertNotEqual(side.resolve({"Fn::ImportValue": "a"}), side.resolve({"Fn::ImportValue": "b"}))


class DynamoDbSample(unittest.TestCase):
    """AWS's own sample table, as the issue reports it: its key is a parameter."""

    created = {"HashKeyElementName": "id"}

    def test_a_new_hash_key_may_replace_the_table_and_names_the_property(self):
        found = changes(TABLE, self.created, TABLE, {"HashKeyElementName": "key"}, {"myDynamoDBTable": "t-1"})
        [table] = found
        self.assertEqual(table["Action"], "Modify")
        self.assertEqual(table["PhysicalResourceId"], "t-1")
        # The provider schema lists KeySchema as conditionally create-only.
        self.assertEqual(table["Replacement"], "Conditional")
        self.assertEqual(table["PolicyAction"], "ReplaceAndDelete")
        key = detail(table, "KeySchema")
        self.assertEqual(key["Target"]["RequiresRecreation"], "Conditionally")
        self.assertEqual(key["Evaluation"], "Static")
        self.assertEqual(key["ChangeSource"], "ParameterReference")
        self.assertEqual(key["CausingEntity"], "HashKeyElementName")
        self.assertEqual(json.loads(key["Target"]["AfterValue"]), [{"AttributeName": "key", "KeyType": "HASH"}])
        self.assertEqual(detail(table, "AttributeDefinitions")["Target"]["RequiresRecreation"], "Never")

    def test_a_capacity_change_is_an_update_in_place(self):
        [table] = changes(TABLE, self.created, TABLE, {**self.created, "ReadCapacityUnits": "6"})
        self.assertEqual(table["Replacement"], "False")
        self.assertNotIn("PolicyAction", table)
        self.assertEqual([d["Target"]["Name"] for d in table["Details"]], ["ProvisionedThroughput"])
        self.assertEqual(table["Details"][0]["CausingEntity"], "ReadCapacityUnits")

    def test_the_same_template_and_values_change_nothing(self):
        self.assertEqual(changes(TABLE, self.created, TABLE, {"HashKeyElementName": "id", "ReadCapacityUnits": "5"}), [])

    def test_removing_the_table_deletes_it_unless_it_is_retained(self):
        [removed] = changes(TABLE, self.created, "Resources: {}", {})
        self.assertEqual((removed["Action"], removed["PolicyAction"]), ("Remove", "Delete"))
        retained = TABLE.replace("Type: AWS::DynamoDB::Table", "Type: AWS::DynamoDB::Table\n    DeletionPolicy: Retain")
        [removed] = changes(retained, self.created, "Resources: {}", {})
        self.assertEqual(removed["PolicyAction"], "Retain")

    def test_a_stack_being_created_adds_every_resource_with_its_values(self):
        [added] = changes("", {}, TABLE, self.created)
        self.assertEqual(added["Action"], "Add")
        self.assertNotIn("Replacement", added)
        self.assertIn("KeySchema", json.loads(added["AfterContext"])["Properties"])


INSTANCE = """
Parameters:
  KeyPairName: {Type: String}
  Purpose: {Type: String, Default: test}
Resources:
  MyEC2Instance:
    Type: AWS::EC2::Instance
    Properties:
      ImageId: ami-7f418316
      KeyName: !Ref KeyPairName
      Tags: [{Key: Purpose, Value: !Ref Purpose}]
  MyQueue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "${MyEC2Instance}-work"
  MyTopic:
    Type: AWS::SNS::Topic
    Metadata: {Owner: team-a}
"""


class DocumentedExamples(unittest.TestCase):
    """The user guide's examples: a direct edit, a parameter change, and what follows from them."""

    parameters = {"KeyPairName": "MyKeyName"}

    def test_a_direct_edit_of_a_create_only_property_replaces(self):
        new = INSTANCE.replace("ami-7f418316", "ami-0ff8a91507f77f867")
        found = by_id(changes(INSTANCE, self.parameters, new, self.parameters, {"MyEC2Instance": "i-1"}))
        instance = found["MyEC2Instance"]
        self.assertEqual(instance["Replacement"], "True")
        self.assertEqual(instance["Scope"], ["Properties"])
        image = detail(instance, "ImageId")
        self.assertEqual(
            (image["Target"]["RequiresRecreation"], image["Evaluation"], image["ChangeSource"]),
            ("Always", "Static", "DirectModification"),
        )
        self.assertNotIn("CausingEntity", image)
        # The queue's name holds the instance's id, unknown until the new instance exists.
        queue = found["MyQueue"]
        name = detail(queue, "QueueName")
        self.assertEqual((name["Evaluation"], name["ChangeSource"], name["CausingEntity"]),
                         ("Dynamic", "ResourceReference", "MyEC2Instance"))
        self.assertEqual(name["Target"]["AfterValue"], json.dumps(cs.UNKNOWN_TEXT))
        self.assertEqual(queue["Replacement"], "Conditional")
        self.assertNotIn("MyTopic", found)

    def test_a_parameter_change_names_the_parameter(self):
        found = by_id(changes(INSTANCE, self.parameters, INSTANCE, {"KeyPairName": "Other"}))
        key = detail(found["MyEC2Instance"], "KeyName")
        self.assertEqual((key["ChangeSource"], key["CausingEntity"]), ("ParameterReference", "KeyPairName"))
        self.assertEqual(found["MyEC2Instance"]["Replacement"], "True")

    def test_tags_and_metadata_change_in_place(self):
        new = INSTANCE.replace("Owner: team-a", "Owner: team-b")
        found = by_id(changes(INSTANCE, self.parameters, new, {**self.parameters, "Purpose": "prod"}))
        self.assertEqual(found["MyEC2Instance"]["Scope"], ["Properties", "Tags"])
        self.assertEqual(found["MyEC2Instance"]["Replacement"], "False")
        self.assertEqual(found["MyTopic"]["Scope"], ["Metadata"])
        self.assertEqual(found["MyTopic"]["Replacement"], "False")
        self.assertNotIn("MyQueue", found)


class Policies(unittest.TestCase):
    def test_replacement_follows_the_update_replace_policy(self):
        old = "Resources:\n  B: {Type: AWS::S3::Bucket, UpdateReplacePolicy: Retain, Properties: {BucketName: a}}\n"
        [bucket] = changes(old, {}, old.replace("BucketName: a", "BucketName: b"), {})
        self.assertEqual((bucket["Replacement"], bucket["PolicyAction"]), ("True", "ReplaceAndRetain"))

    def test_rds_instances_outside_a_cluster_are_snapshotted_by_default(self):
        old = "Resources:\n  Db: {Type: AWS::RDS::DBInstance, Properties: {Engine: postgres}}\n"
        [db] = changes(old, {}, "Resources: {}", {})
        self.assertEqual(db["PolicyAction"], "Snapshot")

    def test_a_resource_whose_condition_turns_false_is_removed(self):
        template = (
            "Parameters:\n  Enabled: {Type: String}\nConditions:\n  Wanted: !Equals [!Ref Enabled, 'yes']\n"
            "Resources:\n  Q: {Type: AWS::SQS::Queue, Condition: Wanted}\n"
        )
        [queue] = changes(template, {"Enabled": "yes"}, template, {"Enabled": "no"})
        self.assertEqual(queue["Action"], "Remove")

    def test_a_type_without_a_schema_may_be_replaced_and_a_custom_resource_is_updated(self):
        old = (
            "Resources:\n  X: {Type: AWS::Unknown::Thing, Properties: {A: 1}}\n"
            "  C: {Type: Custom::Thing, Properties: {ServiceToken: arn, A: 1}}\n"
        )
        found = by_id(changes(old, {}, old.replace("A: 1", "A: 2"), {}))
        self.assertEqual(found["X"]["Replacement"], "Conditional")
        self.assertEqual(found["C"]["Replacement"], "False")

    def test_a_type_change_is_never_an_update(self):
        old = "Resources:\n  R: {Type: AWS::SQS::Queue}\n"
        [change] = changes(old, {}, old.replace("SQS::Queue", "SNS::Topic"), {})
        self.assertEqual(change["Replacement"], "True")


class Attacks(unittest.TestCase):
    """Templates that tried to make the local change set say less than AWS's (an attacker's review)."""

    def test_numeric_keys_elsewhere_do_not_hide_a_replacement(self):
        api = (
            "  Api:\n    Type: AWS::ApiGateway::RestApi\n    Properties:\n"
            "      Body: {paths: {/: {get: {responses: {200: {description: ok}, default: {description: e}}}}}}\n"
        )
        with_api = TABLE.replace("Outputs:", api + "Outputs:")
        found = by_id(changes(TABLE, {"HashKeyElementName": "id"}, with_api, {"HashKeyElementName": "pk"}))
        self.assertEqual(found["myDynamoDBTable"]["Replacement"], "Conditional")
        self.assertEqual(found["Api"]["Action"], "Add")

    def test_yaml_1_1_booleans_are_read_as_cloudformation_reads_them(self):
        old = "Resources:\n  Q: {Type: AWS::SQS::Queue, Properties: {QueueName: 'on'}}\n"
        [queue] = changes(old, {}, old.replace("'on'", "on"), {})
        self.assertEqual(queue["Replacement"], "True")

    def test_mappings_keyed_by_numbers_are_looked_up(self):
        template = (
            "Mappings:\n  Accounts: {123456789012: {Env: prod}}\n  Keys: {1: {Name: id}}\n"
            "Conditions:\n  IsProd: !Equals [!FindInMap [Accounts, !Ref AWS::AccountId, Env], prod]\n"
            "Resources:\n  T:\n    Type: AWS::DynamoDB::Table\n    Condition: IsProd\n"
            "    Properties: {KeySchema: [{AttributeName: !FindInMap [Keys, 1, Name], KeyType: HASH}]}\n"
        )
        pseudo = {**PSEUDO, "AWS::AccountId": "123456789012"}
        found = cs.compute_changes(cs.load_template(template), {}, cs.load_template(template.replace("Name: id", "Name: pk")),
                                   {}, pseudo, {})
        self.assertEqual([(c["LogicalResourceId"], c["Replacement"]) for c in found], [("T", "Conditional")])
        removed = cs.compute_changes(cs.load_template(template), {}, cs.load_template("Resources: {}"), {}, pseudo, {})
        self.assertEqual([c["Action"] for c in removed], ["Remove"])

    def test_a_condition_that_cannot_be_computed_makes_the_action_dynamic(self):
        template = (
            "Conditions:\n  Imported: !Equals [!ImportValue shared-env, prod]\n"
            "Resources:\n  T: {Type: AWS::DynamoDB::Table, Condition: Imported}\n"
        )
        [table] = changes(template, {}, template, {})
        self.assertEqual(table["Action"], "Dynamic")

    def test_an_ssm_parameter_is_compared_by_its_value(self):
        template = (
            "Parameters:\n  Key: {Type: 'AWS::SSM::Parameter::Value<String>', Default: /app/key}\n"
            "Resources:\n  T:\n    Type: AWS::DynamoDB::Table\n"
            "    Properties: {KeySchema: [{AttributeName: !Ref Key, KeyType: HASH}]}\n"
        )
        found = cs.compute_changes(cs.load_template(template), {}, cs.load_template(template), {}, PSEUDO, {},
                                   old_ssm=lambda p, path: "id", new_ssm=lambda p, path: "pk")
        self.assertEqual(found[0]["Replacement"], "Conditional")
        self.assertEqual(detail(found[0], "KeySchema")["CausingEntity"], "Key")
        unknown = cs.compute_changes(cs.load_template(template), {}, cs.load_template(template), {}, PSEUDO, {})
        self.assertEqual(unknown[0]["Replacement"], "Conditional")

    def test_a_nested_stack_is_always_listed_and_its_outputs_are_unknown(self):
        template = (
            "Resources:\n  Child: {Type: AWS::CloudFormation::Stack, Properties: {TemplateURL: https://x/t.yaml}}\n"
            "  Q: {Type: AWS::SQS::Queue, Properties: {QueueName: !GetAtt Child.Outputs.Name}}\n"
        )
        found = by_id(changes(template, {}, template, {}))
        self.assertEqual(found["Child"]["Details"][0]["ChangeSource"], "Automatic")
        self.assertEqual(found["Q"]["Replacement"], "Conditional")

    def test_what_is_not_expanded_locally_is_refused_not_guessed(self):
        for text in ("Transform: AWS::Serverless-2016-10-31\nResources: {}\n",
                     "Resources:\n  Fn::ForEach::Tables: [T, [a, b], {}]\n"):
            with self.assertRaises(cs.Unsupported):
                cs.load_template(text)

    def test_a_retain_policy_added_with_the_replacement_does_not_count(self):
        old = "Resources:\n  B: {Type: AWS::S3::Bucket, Properties: {BucketName: a}}\n"
        new = "Resources:\n  B: {Type: AWS::S3::Bucket, UpdateReplacePolicy: Retain, Properties: {BucketName: b}}\n"
        [bucket] = changes(old, {}, new, {})
        self.assertEqual(bucket["PolicyAction"], "ReplaceAndDelete")


class Moto(unittest.TestCase):
    """moto answers DescribeChangeSet with the computed changes (moto-server.py's mend)."""

    @classmethod
    def setUpClass(cls):
        spec = importlib.util.spec_from_file_location("moto_server", HERE / "moto-server.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.mend_change_set_identity()
        module.mend_change_sets()
        module.mend_missing_template()
        module.mend_drift_detection()

    def test_a_table_deleted_outside_cloudformation_is_drift(self):
        import boto3
        from moto import mock_aws

        with mock_aws():
            cfn = boto3.client("cloudformation", region_name="us-east-1")
            dynamodb = boto3.client("dynamodb", region_name="us-east-1")
            template = TABLE.replace(
                "Outputs:", "  Events:\n    Type: AWS::SNS::Topic\n  Log:\n    Type: AWS::Logs::LogGroup\nOutputs:"
            )
            # Made as stackgate makes stacks: a CREATE change set, executed.
            cfn.create_change_set(
                StackName="drifty", ChangeSetName="c1", ChangeSetType="CREATE", TemplateBody=template,
                Parameters=[{"ParameterKey": "HashKeyElementName", "ParameterValue": "id"}],
            )
            cfn.execute_change_set(StackName="drifty", ChangeSetName="c1")

            def detect():
                detection = cfn.detect_stack_drift(StackName="drifty")["StackDriftDetectionId"]
                status = cfn.describe_stack_drift_detection_status(StackDriftDetectionId=detection)
                self.assertEqual(status["DetectionStatus"], "DETECTION_COMPLETE")
                drifts = cfn.describe_stack_resource_drifts(
                    StackName="drifty", StackResourceDriftStatusFilters=["MODIFIED", "DELETED"]
                )["StackResourceDrifts"]
                return status["StackDriftStatus"], [(d["LogicalResourceId"], d["StackResourceDriftStatus"]) for d in drifts]

            self.assertEqual(detect(), ("IN_SYNC", []))
            # An update that drops the topic: drift is about the stack's resources now.
            cfn.create_change_set(
                StackName="drifty", ChangeSetName="c2", ChangeSetType="UPDATE",
                TemplateBody=template.replace("  Events:\n    Type: AWS::SNS::Topic\n", ""),
                Parameters=[{"ParameterKey": "HashKeyElementName", "ParameterValue": "id"}],
            )
            cfn.execute_change_set(StackName="drifty", ChangeSetName="c2")
            self.assertEqual(detect(), ("IN_SYNC", []))
            [table] = dynamodb.list_tables()["TableNames"]
            dynamodb.delete_table(TableName=table)
            self.assertEqual(detect(), ("DRIFTED", [("myDynamoDBTable", "DELETED")]))
            every = cfn.describe_stack_resource_drifts(StackName="drifty")["StackResourceDrifts"]
            statuses = {d["LogicalResourceId"]: d["StackResourceDriftStatus"] for d in every}
            self.assertEqual(statuses, {"myDynamoDBTable": "DELETED", "Log": "NOT_CHECKED"})

    def test_executing_a_change_set_deletes_the_stacks_others(self):
        import boto3
        from moto import mock_aws

        with mock_aws():
            cfn = boto3.client("cloudformation", region_name="us-east-1")
            parameters = [{"ParameterKey": "HashKeyElementName", "ParameterValue": "id"}]
            for stack in ("planned", "other"):
                cfn.create_change_set(StackName=stack, ChangeSetName="c1", ChangeSetType="CREATE",
                                      TemplateBody=TABLE, Parameters=parameters)
                cfn.execute_change_set(StackName=stack, ChangeSetName="c1")
            topic = TABLE.replace("Outputs:", "  Events:\n    Type: AWS::SNS::Topic\nOutputs:")
            for name in ("plan", "deploy"):
                cfn.create_change_set(StackName="planned", ChangeSetName=name, ChangeSetType="UPDATE",
                                      TemplateBody=topic, Parameters=parameters)
            cfn.create_change_set(StackName="other", ChangeSetName="plan", ChangeSetType="UPDATE",
                                  TemplateBody=topic, Parameters=parameters)
            cfn.execute_change_set(StackName="planned", ChangeSetName="deploy")
            with self.assertRaises(cfn.exceptions.ChangeSetNotFoundException):
                cfn.describe_change_set(StackName="planned", ChangeSetName="plan")
            executed = cfn.describe_change_set(StackName="planned", ChangeSetName="deploy")
            self.assertEqual(executed["ExecutionStatus"], "EXECUTE_COMPLETE")
            # Another stack's change sets are not touched.
            other = cfn.describe_change_set(StackName="other", ChangeSetName="plan")
            self.assertEqual(other["ExecutionStatus"], "AVAILABLE")

    def test_describe_change_set_says_replace_and_an_unchanged_update_fails(self):
        import boto3
        from moto import mock_aws

        with mock_aws():
            cfn = boto3.client("cloudformation", region_name="us-east-1")

            def change_set(name, kind, key):
                cfn.create_change_set(
                    StackName="table", ChangeSetName=name, ChangeSetType=kind, TemplateBody=TABLE,
                    Parameters=[{"ParameterKey": "HashKeyElementName", "ParameterValue": key}],
                )
                return cfn.describe_change_set(StackName="table", ChangeSetName=name)

            created = change_set("c1", "CREATE", "id")
            self.assertEqual([c["ResourceChange"]["Action"] for c in created["Changes"]], ["Add"])
            cfn.execute_change_set(StackName="table", ChangeSetName="c1")

            replacing = change_set("c2", "UPDATE", "key")
            [change] = replacing["Changes"]
            resource = change["ResourceChange"]
            self.assertEqual(resource["Replacement"], "Conditional")
            self.assertEqual(resource["PolicyAction"], "ReplaceAndDelete")
            self.assertTrue(resource["PhysicalResourceId"])
            self.assertIn("KeySchema", [d["Target"]["Name"] for d in resource["Details"]])

            cfn.create_change_set(
                StackName="table", ChangeSetName="sam", ChangeSetType="UPDATE",
                TemplateBody="Transform: AWS::Serverless-2016-10-31\n" + TABLE,
                Parameters=[{"ParameterKey": "HashKeyElementName", "ParameterValue": "id"}],
            )
            refused = cfn.describe_change_set(StackName="table", ChangeSetName="sam")
            self.assertEqual(refused["Status"], "FAILED")
            self.assertIn("Transform", refused["StatusReason"])

            unchanged = change_set("c3", "UPDATE", "id")
            self.assertEqual(unchanged["Status"], "FAILED")
            self.assertEqual(unchanged["StatusReason"], cs.NO_CHANGES)
            self.assertEqual(unchanged["Changes"], [])


class Identity(unittest.TestCase):
    """A change set is its stack's: what a retried call, its first answer lost, relies on."""

    @classmethod
    def setUpClass(cls):
        Moto.setUpClass()

    def test_a_retried_create_joins_the_stack_in_review_and_names_stay_per_stack(self):
        import boto3
        from botocore.exceptions import ClientError
        from moto import mock_aws

        body = "Resources:\n  T: {Type: AWS::SNS::Topic}\n"
        with mock_aws():
            cfn = boto3.client("cloudformation", region_name="us-east-1")

            def create(stack, name):
                return cfn.create_change_set(StackName=stack, ChangeSetName=name, ChangeSetType="CREATE",
                                             TemplateBody=body)

            first = create("app", "cs-1")
            with self.assertRaises(ClientError) as again:
                create("app", "cs-1")
            self.assertEqual(again.exception.response["Error"]["Code"], "AlreadyExistsException")
            second = create("app", "cs-2")
            self.assertEqual(second["StackId"], first["StackId"])
            self.assertEqual(len(cfn.list_stacks()["StackSummaries"]), 1)

            other = create("other", "cs-1")
            described = cfn.describe_change_set(StackName="other", ChangeSetName="cs-1")
            self.assertEqual(described["ChangeSetId"], other["Id"])
            cfn.execute_change_set(StackName="app", ChangeSetName="cs-1")
            self.assertEqual(cfn.describe_stacks(StackName="app")["Stacks"][0]["StackStatus"], "CREATE_COMPLETE")
            self.assertEqual(cfn.describe_stacks(StackName="other")["Stacks"][0]["StackStatus"], "REVIEW_IN_PROGRESS")
            with self.assertRaises(ClientError):
                create("app", "cs-3")  # a live stack is not created again

            with self.assertRaises(ClientError) as missing:
                cfn.create_change_set(StackName="gone", ChangeSetName="c", ChangeSetType="CREATE",
                                      TemplateURL="http://localhost:4566/no-bucket/t.yaml")
            self.assertEqual(missing.exception.response["Error"]["Code"], "ValidationError")
            self.assertEqual(missing.exception.response["ResponseMetadata"]["HTTPStatusCode"], 400)

            # GetTemplate names the change set's template, the stack's without a change set.
            cfn.create_change_set(StackName="app", ChangeSetName="cs-4", ChangeSetType="UPDATE",
                                  TemplateBody=body.replace("T:", "Renamed:"))
            next_template = cfn.get_template(StackName="app", ChangeSetName="cs-4")["TemplateBody"]
            self.assertIn("Renamed", str(next_template))
            self.assertNotIn("Renamed", str(cfn.get_template(StackName="app")["TemplateBody"]))
            with self.assertRaises(ClientError) as missing:
                cfn.get_template(StackName="other", ChangeSetName="cs-4")
            self.assertEqual(missing.exception.response["Error"]["Code"], "ChangeSetNotFound")

            cfn.delete_stack(StackName="other")
            for call in (cfn.describe_change_set, cfn.delete_change_set):
                with self.assertRaises(ClientError) as missing:
                    call(StackName="other", ChangeSetName="cs-1")
                self.assertEqual(missing.exception.response["Error"]["Code"], "ChangeSetNotFound")


if __name__ == "__main__":
    unittest.main()
