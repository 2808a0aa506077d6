//! The store against a real tmpfs directory: every byte checked.

use super::*;

fn store(capacity: u64) -> (tempfile::TempDir, Arc<ObjectStore>) {
    let base = if Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm").unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let store = ObjectStore::open(StoreConfig {
        dir: base.path().join("objects"),
        spill_dir: base.path().join("spill"),
        capacity,
        network_pulls: false,
    })
    .unwrap();
    (base, store)
}

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

const MIB: usize = 1 << 20;

#[test]
fn put_get_and_remove_give_back_every_byte() {
    let (_dir, store) = store(64 << 20);
    let data = pattern(7, 3 * MIB + 5);
    store.put("a-1", &[&data], true).unwrap();
    let object = store.get("a-1").unwrap();
    assert_eq!(&object.bytes[..], &data[..]);
    assert_eq!(
        store.stats(10).used,
        (data.len() as u64).next_multiple_of(4096)
    );
    drop(object);
    assert!(store.remove("a-1"));
    assert_eq!(store.stats(10).used, 0);
    assert!(matches!(store.get("a-1"), Err(StoreError::Missing(_))));
    // Empty objects work too.
    store.put("a-2", &[], true).unwrap();
    assert!(store.get("a-2").unwrap().bytes.is_empty());
}

#[test]
fn three_times_capacity_spills_and_restores_intact() {
    let (_dir, store) = store(16 << 20);
    for i in 0..12u8 {
        store
            .put(&format!("o-{i}"), &[&pattern(i, 4 * MIB)], true)
            .unwrap();
        assert!(store.stats(0).used <= 16 << 20);
    }
    let stats = store.stats(0);
    assert!(stats.spills >= 8, "spilled {}", stats.spills);
    assert_eq!(stats.objects, 12);
    for i in 0..12u8 {
        let object = store.get(&format!("o-{i}")).unwrap();
        assert_eq!(&object.bytes[..], &pattern(i, 4 * MIB)[..], "object {i}");
    }
    assert!(store.stats(0).restores >= 8);
    for i in 0..12u8 {
        store.remove(&format!("o-{i}"));
    }
    let stats = store.stats(0);
    assert_eq!((stats.used, stats.spilled_bytes, stats.objects), (0, 0, 0));
}

#[test]
fn secondary_copies_go_before_primaries_spill() {
    let (_dir, store) = store(8 << 20);
    store.put("p-1", &[&pattern(1, 3 * MIB)], true).unwrap();
    store.put("s-1", &[&pattern(2, 3 * MIB)], false).unwrap();
    store.put("p-2", &[&pattern(3, 3 * MIB)], true).unwrap();
    let stats = store.stats(0);
    assert_eq!((stats.evictions, stats.spills), (1, 0));
    assert!(!store.contains("s-1"));
    assert!(store.contains("p-1") && store.contains("p-2"));
}

#[test]
fn objects_in_use_stay_and_too_big_puts_fail_clearly() {
    let (_dir, store) = store(8 << 20);
    let held = store.put("p-1", &[&pattern(1, 6 * MIB)], true).unwrap();
    let err = store.put("p-2", &[&pattern(2, 4 * MIB)], true).unwrap_err();
    assert!(err.to_string().contains("object store full"), "{err}");
    let err = store.put("p-3", &[&pattern(3, 9 * MIB)], true).unwrap_err();
    assert!(
        err.to_string().contains("larger than the store's capacity"),
        "{err}"
    );
    assert_eq!(&held.bytes[..], &pattern(1, 6 * MIB)[..]);
    drop(held);
    // Once nobody reads it, it can be spilled to make room.
    store.put("p-2", &[&pattern(2, 4 * MIB)], true).unwrap();
    assert_eq!(
        &store.get("p-1").unwrap().bytes[..],
        &pattern(1, 6 * MIB)[..]
    );
    assert_eq!(store.stats(0).used, 6 << 20);
}

#[test]
fn an_extent_written_through_another_mapping_is_sealed_as_is() {
    let (_dir, store) = store(8 << 20);
    let writer = store.create("c-1", 4096, true).unwrap();
    // A client on this machine maps the arena itself and writes there.
    let arena = Arena::open(store.arena().path(), store.arena().len() as u64).unwrap();
    #[allow(unsafe_code, reason = "the writer's extent, as a client writes it")]
    let target = unsafe { arena.slice_mut(writer.offset() as usize, 4096) };
    target.copy_from_slice(&pattern(9, 4096));
    writer.seal().unwrap();
    assert!(
        store
            .create("w-1", 10, true)
            .unwrap()
            .write_at(8, b"abc")
            .is_err()
    );
    assert_eq!(&store.get("c-1").unwrap().bytes[..], &pattern(9, 4096)[..]);
    assert!(matches!(
        store.create("../x", 1, true),
        Err(StoreError::BadId(_))
    ));
}

#[test]
fn a_reader_keeps_correct_bytes_after_the_object_is_freed_and_its_room_wanted() {
    let (_dir, store) = store(8 << 20);
    let held = store.put("r-1", &[&pattern(1, 6 * MIB)], true).unwrap();
    assert!(store.remove("r-1"));
    // Its room is still taken: the next object cannot have it.
    let err = store.put("r-2", &[&pattern(2, 4 * MIB)], true).unwrap_err();
    assert!(err.to_string().contains("object store full"), "{err}");
    assert_eq!(&held.bytes[..], &pattern(1, 6 * MIB)[..]);
    drop(held);
    // Let go of, the room is reused, and the new object reads right.
    let offset = store
        .put("r-3", &[&pattern(3, 6 * MIB)], true)
        .unwrap()
        .bytes
        .offset();
    assert_eq!(offset, 0, "the freed extent was reused");
    assert_eq!(
        &store.get("r-3").unwrap().bytes[..],
        &pattern(3, 6 * MIB)[..]
    );
    assert_eq!(store.stats(0).used, 6 << 20);
}

#[test]
fn freed_extents_are_reused_and_stats_say_what_fits() {
    let (_dir, store) = store(16 << 20);
    for round in 0..20u8 {
        let id = format!("x-{round}");
        store.put(&id, &[&pattern(round, 5 * MIB)], true).unwrap();
        assert_eq!(
            &store.get(&id).unwrap().bytes[..],
            &pattern(round, 5 * MIB)[..]
        );
        store.remove(&id);
    }
    let stats = store.stats(0);
    assert_eq!(
        (stats.used, stats.spills, stats.largest_free),
        (0, 0, 16 << 20)
    );
}

#[test]
fn fills_of_disjoint_ranges_write_straight_into_the_object() {
    let (_dir, store) = store(64 << 20);
    let data = pattern(3, 5 * MIB + 123);
    let writer = store.create("f-1", data.len() as u64, false).unwrap();
    // Two ranges, the second not page-aligned, filled as sockets fill them.
    let cut = 2 * MIB + 77;
    for (at, part) in [(0, &data[..cut]), (cut, &data[cut..])] {
        writer
            .fill_at(at as u64, part.len(), |into| {
                into.copy_from_slice(part);
                Ok(())
            })
            .unwrap();
    }
    let past = writer.fill_at(data.len() as u64 - 1, 2, |_| Ok(()));
    assert!(past.unwrap_err().to_string().contains("run past"));
    writer.seal().unwrap();
    assert_eq!(&store.get("f-1").unwrap().bytes[..], &data[..]);
}
