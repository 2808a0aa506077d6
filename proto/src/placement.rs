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
