//! Where a stack lives: an account and a Region, each stackgate's own when not named. A stack in
//! another account is reached through that account's deploy role (`examples/target-account-role.yaml`);
//! one only in another Region, with stackgate's own credentials.

use serde::{Deserialize, Serialize};

use crate::TaskError;

/// The deploy role's name in every target account (the functions' policies name it literally).
pub const DEPLOY_ROLE: &str = "stackgate-deploy";
/// The CloudFormation service role a target account's change sets are made with, which the deploy
/// role may pass (`examples/target-account-role.yaml` makes both).
pub const TARGET_CLOUDFORMATION_ROLE: &str = "stackgate-cloudformation";

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Destination {
    /// A 12-digit account id; none: stackgate's own.
    #[serde(default)]
    pub account: Option<String>,
    /// A Region code; none: stackgate's own.
    #[serde(default)]
    pub region: Option<String>,
}

impl Destination {
    /// Validates both parts; an error names `account` or `region` and never repeats the value.
    pub fn new(account: Option<String>, region: Option<String>) -> Result<Self, TaskError> {
        if account.as_deref().is_some_and(|a| !is_account(a)) {
            return Err(TaskError::invalid(
                "account",
                "must be an AWS account id: 12 digits",
            ));
        }
        if region.as_deref().is_some_and(|r| !is_region(r)) {
            return Err(TaskError::invalid(
                "region",
                "must be an AWS Region code, such as eu-west-1",
            ));
        }
        Ok(Destination { account, region })
    }

    /// The same place, with stackgate's own Region left out: a stack there is a stack at home.
    pub fn relative_to(mut self, home_region: &str) -> Self {
        if self.region.as_deref() == Some(home_region) {
            self.region = None;
        }
        self
    }

    /// stackgate's own account and Region.
    pub fn is_home(&self) -> bool {
        self.account.is_none() && self.region.is_none()
    }

    /// The Region the stack's calls go to.
    pub fn region_or<'a>(&'a self, home: &'a str) -> &'a str {
        self.region.as_deref().unwrap_or(home)
    }

    /// The key of the stack's lease: its name at home; elsewhere also where it lives, since the
    /// same name may be another stack there.
    pub fn lease_key(&self, stack_name: &str) -> String {
        if self.is_home() {
            return stack_name.to_string();
        }
        format!(
            "{stack_name}@{}/{}",
            self.account.as_deref().unwrap_or("-"),
            self.region.as_deref().unwrap_or("-")
        )
    }

    /// Whether a stack ARN (`arn:<partition>:cloudformation:<region>:<account>:stack/…`) names a
    /// stack here: its Region (stackgate's own when none is named) and, when one is named, its
    /// account.
    pub fn holds(&self, stack_arn: &str, home_region: &str) -> bool {
        let parts: Vec<&str> = stack_arn.splitn(6, ':').collect();
        match parts.as_slice() {
            ["arn", _, "cloudformation", region, account, rest] if rest.starts_with("stack/") => {
                *region == self.region_or(home_region)
                    && self.account.as_deref().is_none_or(|a| a == *account)
            }
            _ => false,
        }
    }

    /// The role assumed in the destination's account, if it names one.
    pub fn deploy_role_arn(&self, home_region: &str, role_name: &str) -> Option<String> {
        self.account.as_ref().map(|account| {
            let partition = partition_of(self.region_or(home_region));
            format!("arn:{partition}:iam::{account}:role/{role_name}")
        })
    }
}

/// The places stackgate may deploy to besides its own account and Region: the operator's
/// `TargetAccounts` and `TargetRegions`, checked by the API and again before any call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targets {
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
}

impl Targets {
    /// `TARGET_ACCOUNTS` and `TARGET_REGIONS`.
    pub fn from_env() -> Self {
        Targets {
            accounts: crate::config::env_list("TARGET_ACCOUNTS"),
            regions: crate::config::env_list("TARGET_REGIONS"),
        }
    }

    /// Refuses a destination (already relative to stackgate's own Region) that names an account or
    /// a Region the operator did not list; the error names `account` or `region`, never the value.
    pub fn admit(&self, destination: &Destination) -> Result<(), TaskError> {
        if let Some(account) = &destination.account {
            if !self.accounts.contains(account) {
                return Err(TaskError::invalid(
                    "account",
                    "is not one of the operator's target accounts (TargetAccounts)",
                ));
            }
        }
        if let Some(region) = &destination.region {
            if !self.regions.contains(region) {
                return Err(TaskError::invalid(
                    "region",
                    "is not stackgate's own Region nor one of the operator's target Regions (TargetRegions)",
                ));
            }
        }
        Ok(())
    }
}

/// A 12-digit AWS account id.
pub fn is_account(account: &str) -> bool {
    account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())
}

/// A Region code as AWS writes them: `us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`.
pub fn is_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    let is_word = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
    region.len() <= 25
        && (3..=4).contains(&parts.len())
        && parts[0].len() == 2
        && parts[..parts.len() - 1].iter().all(is_word)
        && parts[parts.len() - 1]
            .parse::<u8>()
            .is_ok_and(|n| n >= 1 && !parts[parts.len() - 1].starts_with('0'))
}

/// The ARN partition of a Region.
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_destination_names_its_bad_part_and_never_its_value() {
        for (account, region, field) in [
            (Some("12345678901"), None, "account"),
            (Some("12345678901x"), None, "account"),
            (None, Some("eu_west_1"), "region"),
            (None, Some("eu-west-01"), "region"),
            (None, Some("eu-west-1; rm"), "region"),
        ] {
            let error = Destination::new(account.map(Into::into), region.map(Into::into))
                .expect_err("refused");
            let text = error.to_string();
            assert!(
                matches!(&error, TaskError::InvalidInput { field: f, .. } if f == field),
                "{text}"
            );
            for value in [account, region].into_iter().flatten() {
                assert!(!text.contains(value), "{text}");
            }
        }
    }

    #[test]
    fn a_named_account_is_reached_through_its_deploy_role_in_the_region_s_partition() {
        let home = Destination::new(None, None).unwrap();
        assert!(home.is_home());
        assert_eq!(home.deploy_role_arn("us-east-1", DEPLOY_ROLE), None);
        let region_only = Destination::new(None, Some("eu-west-1".into())).unwrap();
        assert!(!region_only.is_home());
        assert_eq!(region_only.deploy_role_arn("us-east-1", "r"), None);
        let elsewhere = Destination::new(Some("222222222222".into()), None).unwrap();
        assert_eq!(
            elsewhere
                .deploy_role_arn("us-east-1", DEPLOY_ROLE)
                .as_deref(),
            Some("arn:aws:iam::222222222222:role/stackgate-deploy")
        );
        let china =
            Destination::new(Some("222222222222".into()), Some("cn-north-1".into())).unwrap();
        assert_eq!(
            china.deploy_role_arn("us-east-1", "d").as_deref(),
            Some("arn:aws-cn:iam::222222222222:role/d")
        );
    }

    #[test]
    fn a_stack_arn_is_held_only_by_the_place_it_names() {
        let arn = "arn:aws:cloudformation:eu-west-1:222222222222:stack/prod-app/1";
        let there =
            Destination::new(Some("222222222222".into()), Some("eu-west-1".into())).unwrap();
        assert!(there.holds(arn, "us-east-1"));
        let other =
            Destination::new(Some("333333333333".into()), Some("eu-west-1".into())).unwrap();
        assert!(!other.holds(arn, "us-east-1"));
        assert!(!Destination::default().holds(arn, "us-east-1"));
        assert!(Destination::default().holds(arn, "eu-west-1"));
        assert!(!there.holds("prod-app", "us-east-1"));
    }

    #[test]
    fn stackgate_s_own_region_named_is_home() {
        let named = Destination::new(None, Some("us-east-1".into())).unwrap();
        assert!(named.relative_to("us-east-1").is_home());
        let there =
            Destination::new(Some("222222222222".into()), Some("us-east-1".into())).unwrap();
        assert_eq!(
            there.relative_to("us-east-1").lease_key("prod-app"),
            "prod-app@222222222222/-"
        );
    }

    #[test]
    fn a_stack_elsewhere_has_a_lease_of_its_own() {
        let home = Destination::default();
        assert_eq!(home.lease_key("prod-app"), "prod-app");
        let there =
            Destination::new(Some("222222222222".into()), Some("eu-west-1".into())).unwrap();
        assert_eq!(
            there.lease_key("prod-app"),
            "prod-app@222222222222/eu-west-1"
        );
        let region_only = Destination::new(None, Some("eu-west-1".into())).unwrap();
        assert_eq!(region_only.lease_key("prod-app"), "prod-app@-/eu-west-1");
        assert_ne!(
            there.lease_key("prod-app"),
            region_only.lease_key("prod-app")
        );
    }

    #[test]
    fn regions_are_read_as_aws_writes_them() {
        for good in [
            "us-east-1",
            "eu-central-2",
            "us-gov-west-1",
            "cn-north-1",
            "ap-southeast-4",
            "il-central-1",
        ] {
            assert!(is_region(good), "{good}");
        }
        for bad in [
            "",
            "us-east",
            "US-EAST-1",
            "us-east-0",
            "us-east-01",
            "u-east-1",
            "us--1",
            "us-east-1-x-y",
        ] {
            assert!(!is_region(bad), "{bad}");
        }
    }
}
