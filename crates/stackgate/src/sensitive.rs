//! Security-sensitive changes: what alters who may do what. They are never safe by default, whatever
//! the action (adding an IAM user is as much a decision as deleting a table), and blue/green cannot
//! route around them. The lists are data: the operator adds and exempts types through the template
//! (`SecuritySensitiveTypesExtra`, `SecuritySensitiveTypesExempt`); a request cannot change them.

/// Types whose every change is security-sensitive. `*` at the end matches a whole namespace.
pub const DEFAULT_TYPES: &[&str] = &[
    // Identities, their policies and credentials.
    "AWS::IAM::*",
    "AWS::SSO::*",
    "AWS::Organizations::*",
    "AWS::Cognito::IdentityPoolRoleAttachment",
    // Keys and who may use them.
    "AWS::KMS::*",
    // Network access.
    "AWS::EC2::SecurityGroup",
    "AWS::EC2::SecurityGroupIngress",
    "AWS::EC2::SecurityGroupEgress",
    // Resource policies.
    "AWS::S3::BucketPolicy",
    "AWS::SNS::TopicPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::Lambda::Permission",
    "AWS::Lambda::LayerVersionPermission",
    "AWS::Lambda::Url",
    "AWS::SecretsManager::ResourcePolicy",
    "AWS::Events::EventBusPolicy",
    "AWS::Logs::ResourcePolicy",
    "AWS::ECR::RegistryPolicy",
    // Deploys into other accounts and regions.
    "AWS::CloudFormation::StackSet",
    // Runs code of the template's choosing during the deployment, with the permissions of the
    // function behind it (an existing role, another environment's), or changes how templates are
    // processed and checked.
    "Custom::*",
    "AWS::CloudFormation::CustomResource",
    "AWS::CloudFormation::Macro",
    "AWS::CloudFormation::Hook*",
    "AWS::SSM::Association",
    // Registers extensions whose code or template text comes from a package of the template's
    // choosing (modules are expanded into later templates; resource types run handlers).
    "AWS::CloudFormation::ModuleVersion",
    "AWS::CloudFormation::ModuleDefaultVersion",
    "AWS::CloudFormation::ResourceVersion",
    "AWS::CloudFormation::ResourceDefaultVersion",
    "AWS::CloudFormation::TypeActivation",
    "AWS::CloudFormation::PublicTypeVersion",
    "AWS::CloudFormation::Publisher",
    // Deploys whole stacks from templates stackgate never reads (a product's artifact URL).
    "AWS::ServiceCatalog::CloudFormationProduct",
    "AWS::ServiceCatalog::CloudFormationProvisionedProduct",
    // Shares data or reach with other accounts or the internet.
    "AWS::Logs::SubscriptionFilter",
    "AWS::RAM::*",
    "AWS::S3::AccessPoint",
    "AWS::S3::MultiRegionAccessPoint*",
    "AWS::EC2::NetworkAclEntry",
    "AWS::EC2::VPCPeeringConnection",
];

/// Properties that hold an access policy or decide who may call a resource, whatever its type.
/// A change to one of them (named in the change set's details) is security-sensitive.
pub const ACCESS_PROPERTIES: &[&str] = &[
    "Policies",
    "PolicyDocument",
    "AssumeRolePolicyDocument",
    "ManagedPolicyArns",
    "PermissionsBoundary",
    "KeyPolicy",
    "Policy",
    "PolicyText",
    "RepositoryPolicyText",
    "ResourcePolicy",
    "AccessPolicies",
    "AccessPolicy",
    "FileSystemPolicy",
    "Role",
    "RoleArn",
    "ExecutionRoleArn",
    "TaskRoleArn",
    "AuthType",
    "AuthorizationType",
    "ApiKeyRequired",
    "PublicAccessBlockConfiguration",
    "AccessControl",
    "SecurityGroupIngress",
    "SecurityGroupEgress",
    "SecurityGroupIds",
    "VpcSecurityGroupIds",
    "PubliclyAccessible",
    "IamInstanceProfile",
    "ServiceRole",
    "Principals",
    "OwnershipControls",
    "Credentials",
];

/// The operator's list: the defaults, plus extra types, minus exempted ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SensitiveTypes {
    include: Vec<String>,
    exempt: Vec<String>,
}

impl Default for SensitiveTypes {
    fn default() -> Self {
        SensitiveTypes {
            include: DEFAULT_TYPES.iter().map(|t| t.to_string()).collect(),
            exempt: Vec::new(),
        }
    }
}

impl SensitiveTypes {
    pub fn new(extra: Vec<String>, exempt: Vec<String>) -> Self {
        let mut types = SensitiveTypes::default();
        types.include.extend(extra);
        types.exempt = exempt;
        types
    }

    pub fn matches(&self, resource_type: &str) -> bool {
        let hit = |patterns: &[String]| patterns.iter().any(|p| pattern_matches(p, resource_type));
        hit(&self.include) && !hit(&self.exempt)
    }
}

/// A type pattern: exact, or a namespace ending in `*`.
pub fn pattern_matches(pattern: &str, resource_type: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => resource_type.starts_with(prefix),
        None => pattern == resource_type,
    }
}

/// The top-level property names of a change's `AfterContext` or `BeforeContext` (CloudFormation's
/// `IncludePropertyValues`: `{"Properties": {...}}`), so that an added resource is judged by the
/// properties it is created with, not only by its type.
pub fn context_properties(context: Option<&str>) -> Vec<String> {
    context
        .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
        .and_then(|value| {
            value
                .get("Properties")
                .and_then(serde_json::Value::as_object)
                .map(|properties| properties.keys().cloned().collect())
        })
        .unwrap_or_default()
}

/// The first changed property that decides access, if any.
pub fn access_property(changed_properties: &[String]) -> Option<&str> {
    changed_properties
        .iter()
        .map(String::as_str)
        .find(|name| ACCESS_PROPERTIES.contains(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_cover_identities_keys_network_and_resource_policies() {
        let types = SensitiveTypes::default();
        for t in [
            "AWS::IAM::User",
            "AWS::IAM::AccessKey",
            "AWS::IAM::Role",
            "AWS::IAM::Policy",
            "AWS::IAM::ManagedPolicy",
            "AWS::IAM::LoginProfile",
            "AWS::IAM::InstanceProfile",
            "AWS::IAM::Group",
            "AWS::KMS::Key",
            "AWS::KMS::Alias",
            "AWS::EC2::SecurityGroup",
            "AWS::EC2::SecurityGroupIngress",
            "AWS::S3::BucketPolicy",
            "AWS::SNS::TopicPolicy",
            "AWS::SQS::QueuePolicy",
            "AWS::Lambda::Permission",
            // Load template text or code from packages stackgate never reads (an attacker's review).
            "AWS::CloudFormation::ModuleVersion",
            "AWS::CloudFormation::ResourceVersion",
            "AWS::ServiceCatalog::CloudFormationProduct",
            "AWS::ServiceCatalog::CloudFormationProvisionedProduct",
        ] {
            assert!(types.matches(t), "{t}");
        }
        for t in [
            "AWS::S3::Bucket",
            "AWS::SNS::Topic",
            "AWS::Lambda::Function",
            "AWS::Lambda::Version",
            "AWS::EC2::VPC",
            "AWS::IAMX::Thing",
        ] {
            assert!(!types.matches(t), "{t}");
        }
    }

    #[test]
    fn the_operator_adds_and_exempts() {
        let types = SensitiveTypes::new(
            vec!["AWS::ECR::Repository".into(), "Custom::*".into()],
            vec!["AWS::IAM::InstanceProfile".into()],
        );
        assert!(types.matches("AWS::ECR::Repository"));
        assert!(types.matches("Custom::Anything"));
        assert!(!types.matches("AWS::IAM::InstanceProfile"));
        assert!(types.matches("AWS::IAM::Role"));
    }

    #[test]
    fn an_added_resource_is_judged_by_the_properties_it_is_created_with() {
        let after =
            r#"{"Properties": {"FunctionName": "f", "Role": "arn:aws:iam::1:role/prod-x"}}"#;
        let names = context_properties(Some(after));
        assert_eq!(access_property(&names), Some("Role"));
        assert!(context_properties(Some("not json")).is_empty());
        assert!(context_properties(None).is_empty());
        let types = SensitiveTypes::default();
        for t in [
            "Custom::Run",
            "AWS::CloudFormation::CustomResource",
            "AWS::SSM::Association",
            "AWS::RAM::ResourceShare",
        ] {
            assert!(types.matches(t), "{t}");
        }
    }

    #[test]
    fn access_properties_are_recognised_by_name() {
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            access_property(&names(&["Timeout", "PolicyDocument"])),
            Some("PolicyDocument")
        );
        assert_eq!(access_property(&names(&["RedrivePolicy", "Timeout"])), None);
        assert_eq!(access_property(&names(&["LifecyclePolicy"])), None);
    }
}
