//! Outbox directories watched per connector (`[[gateway.outbox]]`), on the local file
//! system: a file dropped in one is delivered to the partner; a file still being written
//! is not taken until it stops changing; hidden files and symbolic links are never taken.

mod support;

use std::io::Write;
use std::time::Duration;

use as2_gateway::config::OutboxDir;
use as2_gateway::outbox::OutboxWatcher;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_dropped_in_the_outbox_is_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let (a_port, b_port) = (free_port(), free_port());
    let (a_data, b_data) = (dir.path().join("a-data"), dir.path().join("b-data"));
    let out = dir.path().join("to-b");
    let watch = format!(
        "[[gateway.outbox]]\nconnector = \"c-to-partner-b\"\ndir = \"{}\"\npoll_interval_ms = 50\n",
        out.display()
    );
    let b = start(&b_config(dir.path(), &b_data, b_port, "")).await;
    let a = start(&a_config(dir.path(), &a_data, a_port, b_port, &watch)).await;

    let payload = std::fs::read(root().join("examples/data/po-4711.x12")).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    // A name with tricks in it: what B gets is neutralised.
    std::fs::write(out.join("po 4711;x.x12"), &payload).unwrap();
    let inbox = b_data.join("PartnerB/inbox/processed");
    let delivered = loop {
        let found = files_with(&inbox, "po_4711_x.");
        if let Some((name, bytes)) = found.into_iter().find(|(n, _)| n.ends_with(".x12")) {
            break (name, bytes);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(delivered.1, payload, "{}", delivered.0);
    // Taken once: gone from the outbox; A's record says COMPLETED and the copy A kept in
    // its queue is removed once delivered.
    assert!(files(&out).is_empty());
    let outbox = a_data.join("outbox/processed");
    let record = loop {
        let records = files_with(&outbox, ".json");
        if let Some((_, record)) = records.into_iter().next() {
            break String::from_utf8(record).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(record.contains("COMPLETED"), "{record}");
    assert!(record.contains("outbox/queue/"), "{record}");
    while !files(&a_data.join(as2_gateway::QUEUE)).is_empty() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let payloads = files_with(&inbox, ".x12");
    assert_eq!(
        payloads.iter().filter(|(n, _)| n.ends_with(".x12")).count(),
        1
    );
    a.shutdown(Duration::from_secs(5)).await;
    b.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_written_file_is_not_taken_early() {
    let dir = tempfile::tempdir().unwrap();
    let (a_port, b_port) = (free_port(), free_port());
    let a_data = dir.path().join("a-data");
    // B is down: transfers queued here wait; only the taking is looked at.
    let a = start(&a_config(dir.path(), &a_data, a_port, b_port, "")).await;
    let out = dir.path().join("to-b");
    std::fs::create_dir_all(&out).unwrap();
    // The polls are made here, one at a time, rather than on a timer.
    let mut watcher = OutboxWatcher::new(
        a.gateway.clone(),
        OutboxDir {
            connector: "c-to-partner-b".into(),
            dir: out.clone(),
            poll_interval_ms: 1000,
            content_type: None,
        },
    );
    let path = out.join("big.x12");
    let whole: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let (first, second) = whole.split_at(70_000);
    std::fs::write(&path, first).unwrap();
    // Never taken: a hidden file (written, to be renamed into place) and a link.
    std::fs::write(out.join(".big.x12.part"), &whole).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(
        root().join("examples/data/po-4711.x12"),
        out.join("link.x12"),
    )
    .unwrap();

    // First sight: not known to be complete.
    assert!(watcher.poll().await.unwrap().is_empty());
    // It grew since: still being written.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(second)
        .unwrap();
    assert!(watcher.poll().await.unwrap().is_empty());
    assert_eq!(std::fs::read(&path).unwrap(), whole);
    // Unchanged since the last look: taken, whole.
    let taken = watcher.poll().await.unwrap();
    assert_eq!(taken.len(), 1, "{taken:?}");
    assert_eq!(taken[0].file_name.as_deref(), Some("big.x12"));
    assert!(!path.exists());
    let queued = files(&a_data.join(as2_gateway::QUEUE));
    assert_eq!(queued.len(), 1);
    assert!(queued[0].0.ends_with(".big.x12"), "{}", queued[0].0);
    assert_eq!(queued[0].1, whole);
    // The rest stays, however often it is looked at.
    assert!(watcher.poll().await.unwrap().is_empty());
    assert!(watcher.poll().await.unwrap().is_empty());
    let mut left: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    let mut expected = vec![".big.x12.part"];
    if cfg!(unix) {
        expected.push("link.x12");
    }
    assert_eq!(left, expected);
    a.shutdown(Duration::from_secs(5)).await;
}
