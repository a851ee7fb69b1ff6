use super::*;

fn defaults() -> Vec<RulesFile> {
    vec![RulesFile::bundled()]
}

fn failed(template: &str) -> Vec<(String, Vec<String>)> {
    evaluate(&defaults(), template)
        .unwrap()
        .into_iter()
        .map(|f| (f.rule, f.resources))
        .collect()
}

fn rule(name: &str, resources: &[&str]) -> (String, Vec<String>) {
    (
        name.to_string(),
        resources.iter().map(|r| r.to_string()).collect(),
    )
}

const COMPLIANT: &str = r#"
AWSTemplateFormatVersion: '2010-09-09'
Parameters:
  Size: {Type: Number}
Resources:
  Db:
    Type: AWS::RDS::DBInstance
    Properties:
      Engine: postgres
      StorageEncrypted: true
      AllocatedStorage: !Ref Size
  Member:
    Type: AWS::RDS::DBInstance
    Properties:
      DBClusterIdentifier: !Ref Cluster
  Cluster:
    Type: AWS::RDS::DBCluster
    Properties: {Engine: aurora-postgresql, StorageEncrypted: true}
  Files:
    Type: AWS::EFS::FileSystem
    Properties: {Encrypted: true}
  Stream:
    Type: AWS::Kinesis::Stream
    Properties:
      StreamEncryption: {EncryptionType: KMS, KeyId: alias/aws/kinesis}
  Search:
    Type: AWS::OpenSearchService::Domain
    Properties:
      EncryptionAtRestOptions: {Enabled: true}
  Plain:
    Type: AWS::S3::Bucket
  Private:
    Type: AWS::S3::Bucket
    Properties:
      AccessControl: Private
      PublicAccessBlockConfiguration:
        BlockPublicAcls: true
        BlockPublicPolicy: true
        IgnorePublicAcls: true
        RestrictPublicBuckets: true
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement: [{Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}]
      Policies:
        - PolicyName: read
          PolicyDocument:
            Statement:
              - Effect: Allow
                Action: [s3:GetObject, 's3:List*']
                Resource: !Sub '${Private.Arn}/*'
              - Effect: Deny
                Action: '*'
                Resource: '*'
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
Outputs:
  Arn: {Value: !GetAtt Table.Arn}
"#;

#[test]
fn a_compliant_template_fails_no_default_rule() {
    assert_eq!(failed(COMPLIANT), vec![]);
    // The same as JSON (a processed template is JSON).
    let json = template_json(COMPLIANT).unwrap().to_string();
    assert_eq!(failed(&json), vec![]);
}

#[test]
fn a_template_without_the_resources_a_rule_is_about_passes_it() {
    assert_eq!(
        failed("Resources: {Topic: {Type: AWS::SNS::Topic}}"),
        vec![]
    );
    assert_eq!(failed("{}"), vec![]);
}

#[test]
fn each_default_rule_fails_naming_the_resources_and_never_a_value() {
    let template = r#"
Resources:
  Db:
    Type: AWS::RDS::DBInstance
    Properties:
      Engine: postgres
      MasterUserPassword: hunter2-secret
  Cluster:
    Type: AWS::RDS::DBCluster
    Properties: {Engine: aurora-mysql, StorageEncrypted: false}
  Files:
    Type: AWS::EFS::FileSystem
  Stream:
    Type: AWS::Kinesis::Stream
    Properties: {ShardCount: 1}
  Search:
    Type: AWS::OpenSearchService::Domain
    Properties:
      EncryptionAtRestOptions: {Enabled: false}
  Open:
    Type: AWS::S3::Bucket
    Properties: {AccessControl: PublicReadWrite}
  Unblocked:
    Type: AWS::S3::Bucket
    Properties:
      PublicAccessBlockConfiguration: {BlockPublicAcls: true, BlockPublicPolicy: false}
  Admin:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      PolicyDocument:
        Statement:
          Effect: Allow
          Action: '*'
          Resource: '*'
  Listed:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument: {}
      Policies:
        - PolicyName: all
          PolicyDocument:
            Statement:
              - Effect: Allow
                Action: [s3:GetObject, '*']
                Resource: '*'
"#;
    let failures = evaluate(&defaults(), template).unwrap();
    let named: Vec<(String, Vec<String>)> = failures
        .iter()
        .map(|f| (f.rule.clone(), f.resources.clone()))
        .collect();
    assert_eq!(
        named,
        vec![
            rule("EFS_ENCRYPTED", &["Files"]),
            rule("IAM_NO_WILDCARD_ACTION", &["Admin", "Listed"]),
            rule("KINESIS_STREAM_ENCRYPTED", &["Stream"]),
            rule("OPENSEARCH_ENCRYPTED_AT_REST", &["Search"]),
            rule("RDS_STORAGE_ENCRYPTED", &["Cluster", "Db"]),
            rule("S3_BUCKET_NOT_PUBLIC", &["Open", "Unblocked"]),
        ]
    );
    let shown = format!("{failures:?} {}", serde_json::to_string(&failures).unwrap());
    for value in ["hunter2", "PublicReadWrite", "postgres"] {
        assert!(!shown.contains(value), "{value} in {shown}");
    }
}

#[test]
fn a_value_set_by_a_function_is_not_taken_for_the_literal_a_rule_asks_for() {
    // Guard reads the template, not the deployed stack: a parameter could say false.
    let template = r#"
Parameters:
  Encrypt: {Type: String}
Resources:
  Files:
    Type: AWS::EFS::FileSystem
    Properties: {Encrypted: !Ref Encrypt}
"#;
    assert_eq!(failed(template), vec![rule("EFS_ENCRYPTED", &["Files"])]);
}

#[test]
fn yaml_short_forms_become_the_long_forms_cloudformation_reads() {
    let json = template_json(
        "A: !Ref X\nB: !GetAtt R.Arn\nC: !Sub 'x-${X}'\nD: !If [C, 1, 2]\nE: !Condition C\nF: !GetAZs ''\n",
    )
    .unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "A": {"Ref": "X"},
            "B": {"Fn::GetAtt": ["R", "Arn"]},
            "C": {"Fn::Sub": "x-${X}"},
            "D": {"Fn::If": ["C", 1, 2]},
            "E": {"Condition": "C"},
            "F": {"Fn::GetAZs": ""},
        })
    );
    assert_eq!(
        template_json("a: [unclosed").unwrap_err().error_type(),
        "InvalidTemplate"
    );
    assert_eq!(
        template_json("{\"a\": ").unwrap_err().error_type(),
        "InvalidTemplate"
    );
}

/// A key written twice could hide a resource from the rules (or an include from the allow-list)
/// if this reader and CloudFormation's took different copies: both forms are refused.
#[test]
fn a_key_written_twice_is_refused_in_json_and_yaml() {
    let hidden = r#"{"Resources": {"Open": {"Type": "AWS::S3::Bucket"}}, "Resources": {}}"#;
    let nested = r#"{"Resources": {"R": {"Type": "A", "Properties": {"P": [{"k": 1, "k": 2}]}}}}"#;
    let yaml = "Resources:\n  Open:\n    Type: AWS::S3::Bucket\nResources: {}\n";
    // From an attacker's review: a number key and a text key that this reader sees as one.
    let octal =
        "Resources:\n  0o20:\n    Type: AWS::S3::Bucket\n  \"16\":\n    Type: AWS::SNS::Topic\n";
    let number =
        "Resources:\n  16:\n    Type: AWS::S3::Bucket\n  \"16\":\n    Type: AWS::SNS::Topic\n";
    for template in [hidden, nested, yaml, octal, number] {
        assert_eq!(
            template_json(template).unwrap_err().error_type(),
            "InvalidTemplate",
            "{template}"
        );
    }
    let plain = r#"{"Resources": {"A": {"Type": "T", "Properties": {"L": [1, 2.5, -3, null, true, "x"]}}}}"#;
    assert!(template_json(plain).is_ok());
}

#[test]
fn the_operators_rules_are_evaluated_beside_the_defaults() {
    let mine = RulesFile {
        name: "team.guard".into(),
        text: "rule TABLES_HAVE_PITR when Resources.*[ Type == 'AWS::DynamoDB::Table' ] !empty {\n  Resources.*[ Type == 'AWS::DynamoDB::Table' ].Properties.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled == true\n}\n".into(),
    };
    check_rules(&mine).unwrap();
    let failures = evaluate(&[RulesFile::bundled(), mine], COMPLIANT).unwrap();
    assert_eq!(
        failures,
        vec![Failure {
            rule: "TABLES_HAVE_PITR".into(),
            resources: vec!["Table".into()],
            more_resources: 0,
        }]
    );
    assert_eq!(failures[0].line(), "TABLES_HAVE_PITR: Table");
}

#[test]
fn rules_that_do_not_parse_are_named_by_their_setting() {
    let broken = RulesFile {
        name: "team.guard".into(),
        text: "rule BROKEN { Resources.*[ Type == \n".into(),
    };
    let error = check_rules(&broken).unwrap_err();
    assert_eq!(error.error_type(), "InvalidInput");
    assert!(error.to_string().contains("GUARD_RULES"), "{error}");
    assert!(error.to_string().contains("team.guard"), "{error}");
    let huge = RulesFile {
        name: "huge.guard".into(),
        text: "#".repeat(MAX_RULES_BYTES + 1),
    };
    assert_eq!(check_rules(&huge).unwrap_err().error_type(), "InvalidInput");
    // An empty file (or only comments) holds no rule to fail.
    let empty = RulesFile {
        name: "empty.guard".into(),
        text: "# nothing yet\n".into(),
    };
    assert_eq!(evaluate(&[empty], COMPLIANT).unwrap(), vec![]);
}

#[test]
fn a_failed_rule_lists_a_bounded_number_of_resources() {
    let buckets: String = (0..30)
        .map(|i| format!("  B{i:02}:\n    Type: AWS::S3::Bucket\n    Properties: {{AccessControl: PublicRead}}\n"))
        .collect();
    let failures = evaluate(&defaults(), &format!("Resources:\n{buckets}")).unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].resources.len(), MAX_RESOURCES);
    assert_eq!(failures[0].more_resources, 10);
    assert!(failures[0].line().ends_with("(+10 more)"));
}

#[test]
fn settings_are_checked_and_never_echoed() {
    let settings = Settings::new(None, None, None).unwrap();
    assert!(settings.defaults && settings.enabled());
    assert_eq!(settings.on_failure, OnFailure::Refuse);
    let settings = Settings::new(
        Some("off"),
        Some("s3://rules-bucket/team/rules.guard"),
        Some("approve"),
    )
    .unwrap();
    assert_eq!(
        settings.rules_object,
        Some(("rules-bucket".into(), "team/rules.guard".into()))
    );
    assert_eq!(settings.on_failure, OnFailure::Approve);
    assert!(!Settings::new(Some("off"), Some(""), None)
        .unwrap()
        .enabled());
    for (defaults, rules, on_failure, field) in [
        (Some("yes"), None, None, "GUARD_DEFAULTS"),
        (
            None,
            Some("https://example.com/secret-token"),
            None,
            "GUARD_RULES",
        ),
        (None, Some("s3://Bad_Bucket/x"), None, "GUARD_RULES"),
        (None, Some("s3://bucket/"), None, "GUARD_RULES"),
        (None, None, Some("warn"), "GUARD_ON_FAILURE"),
    ] {
        let error = Settings::new(defaults, rules, on_failure).unwrap_err();
        assert!(error.to_string().contains(field), "{error}");
        assert!(!error.to_string().contains("secret-token"), "{error}");
    }
}

#[test]
fn resource_ids_come_only_from_resource_paths() {
    assert_eq!(resource_of("/Resources/Db/Properties/X"), Some("Db".into()));
    assert_eq!(resource_of("/Resources/Db"), Some("Db".into()));
    assert_eq!(resource_of("/Outputs/Db"), None);
    assert_eq!(resource_of("/Resources/not an id/x"), None);
    assert_eq!(resource_of("/Resources/"), None);
}

#[test]
fn a_policy_of_denials_only_allows_nothing_and_passes() {
    let template = r#"
Resources:
  Guardrail:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      PolicyDocument:
        Statement:
          - Effect: Deny
            Action: '*'
            Resource: '*'
"#;
    assert_eq!(failed(template), vec![]);
}
