//! Where task and actor options put their work: a placement group, one of
//! its bundles, and whether what the work makes follows it there.

use crate::v1;

/// The placement-group fields of task or actor options.
pub struct GroupParts<'a> {
    /// The group's id (empty: none).
    pub group: &'a mut String,
    /// The bundle (`None`: any with room).
    pub bundle_index: &'a mut Option<i32>,
    /// Whether what the work makes goes into the group too.
    pub capture_child_tasks: &'a mut bool,
}

/// Options that can put work into a placement group.
pub trait InGroup {
    /// Its placement-group fields, to read or set.
    fn group_parts(&mut self) -> GroupParts<'_>;
}

macro_rules! in_group {
    ($($message:ty),*) => {$(
        impl InGroup for $message {
            fn group_parts(&mut self) -> GroupParts<'_> {
                GroupParts {
                    group: &mut self.placement_group,
                    bundle_index: &mut self.bundle_index,
                    capture_child_tasks: &mut self.capture_child_tasks,
                }
            }
        }
    )*};
}

in_group!(v1::TaskOptions, v1::ActorOptions);

/// A placement strategy name that is none of Ray's four.
#[derive(Debug, thiserror::Error)]
#[error("unknown placement strategy `{0}`: use PACK, SPREAD, STRICT_PACK or STRICT_SPREAD")]
pub struct UnknownStrategy(pub String);

impl v1::PlacementStrategy {
    /// A strategy from Ray's name, in either case, with `_` or `-`.
    pub fn parse(text: &str) -> Result<Self, UnknownStrategy> {
        let name = text.trim().to_ascii_uppercase().replace('-', "_");
        Self::from_str_name(&format!("PLACEMENT_STRATEGY_{name}"))
            .ok_or_else(|| UnknownStrategy(text.to_string()))
    }

    /// Ray's name: `PACK`, `SPREAD`, `STRICT_PACK` or `STRICT_SPREAD`.
    pub fn name(self) -> &'static str {
        self.as_str_name().trim_start_matches("PLACEMENT_STRATEGY_")
    }
}

impl v1::PlacementGroupState {
    /// Ray's name: `PENDING`, `CREATED`, `RESCHEDULING` or `REMOVED`.
    pub fn name(self) -> &'static str {
        self.as_str_name()
            .trim_start_matches("PLACEMENT_GROUP_STATE_")
    }

    /// The lower-case name the CLI, the dashboard and metric labels use.
    pub fn label(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Created => "created",
            Self::Rescheduling => "rescheduling",
            Self::Removed => "removed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::v1::{PlacementGroupState, PlacementStrategy};

    #[test]
    fn strategies_parse_in_any_spelling() {
        for text in ["strict-spread", "STRICT_SPREAD", "Strict_Spread"] {
            assert_eq!(
                PlacementStrategy::parse(text).unwrap(),
                PlacementStrategy::StrictSpread
            );
        }
        assert_eq!(PlacementStrategy::StrictPack.name(), "STRICT_PACK");
        let err = PlacementStrategy::parse("diagonal").unwrap_err();
        assert!(err.to_string().contains("`diagonal`"), "{err}");
    }

    #[test]
    fn state_names_agree() {
        for s in [
            PlacementGroupState::Pending,
            PlacementGroupState::Created,
            PlacementGroupState::Rescheduling,
            PlacementGroupState::Removed,
        ] {
            assert_eq!(s.label(), s.name().to_ascii_lowercase());
        }
    }
}
