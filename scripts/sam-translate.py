"""Translates template.yaml (SAM) into plain CloudFormation JSON, offline, with aws-sam-translator:
what `sam deploy` would hand CloudFormation, for checkers that read plain templates (checkov).
Usage: sam-translate.py TEMPLATE OUT.json"""
import json
import sys

import boto3
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

import os

with open(sys.argv[1]) as f:
    sam = yaml_parse(f.read())
base = os.path.dirname(os.path.abspath(sys.argv[1]))
# What `sam package` does first: code goes to S3 (any bucket will do here), and each state machine's
# definition file is read in, so that checkers see the definitions too.
sam.setdefault("Globals", {}).setdefault("Function", {})["CodeUri"] = "s3://packaged/stackgate.zip"
for resource in sam["Resources"].values():
    if resource["Type"] == "AWS::Serverless::StateMachine":
        properties = resource["Properties"]
        uri = properties.pop("DefinitionUri", None)
        if isinstance(uri, str):
            with open(os.path.join(base, uri)) as f:
                properties["Definition"] = json.load(f)
# A region-only session: the translator needs a region, and makes no AWS call with it. Managed
# policy names resolve from the translator's bundled list.
session = boto3.session.Session(region_name="us-east-1")
cfn = Translator(None, Parser(), boto_session=session).translate(
    sam, parameter_values={}, get_managed_policy_map=lambda: {}
)
with open(sys.argv[2], "w") as f:
    json.dump(cfn, f, indent=1)
