//! Durable storage: every object of the [`Store`](super::Store) also kept in SQLite
//! under `--data-dir`, so a restarted server has the objects and the resourceVersion it
//! had (kube-apiserver keeps them in etcd; k3s' kine keeps them in SQLite, as here).
//!
//! Why SQLite (the `rusqlite` crate, SQLite bundled): it is the most widely proven
//! crash-safe embedded database, and in WAL mode a commit is one append to the log.
//! The database is opened with `journal_mode=WAL` and `synchronous=NORMAL`: each write
//! is in the operating system's hands before the store acknowledges it, so a killed
//! server (`kill -9`) loses no acknowledged write; the log is synced to the disk at each
//! checkpoint, so a power loss may roll back the last writes but never corrupts the
//! database (SQLite's documented guarantee for this mode).
//!
//! Layout: `objects(resource, key, value)` holds each live object's JSON;
//! `meta('rv')` the newest resourceVersion handed out (deletes move it too, so
//! resourceVersions keep rising across restarts). Each write of the store is one SQLite
//! transaction, made while the store's lock is held and before memory changes: a write
//! that cannot be stored fails and changes nothing. The watch history is not kept: after
//! a restart, a watch or a `continue` from before it gets 410 Gone, as after an etcd
//! compaction.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

/// Why the database could not be opened, read or written. Names the file.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct DurableError {
    /// The database file.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

/// What a database holds when it is opened.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The newest resourceVersion handed out (0 for a new database).
    pub rv: u64,
    /// Every stored object: `(resource key, object key, object)`.
    pub objects: Vec<(String, String, Value)>,
}

/// The open database.
#[derive(Debug)]
pub struct Durable {
    conn: Connection,
    path: PathBuf,
}

/// The database file in a data directory.
pub const FILE_NAME: &str = "ferrokube.sqlite";

impl Durable {
    /// Opens (creating if needed) the database in `dir` and reads everything in it.
    pub fn open(dir: &Path) -> Result<(Durable, Loaded), DurableError> {
        let path = dir.join(FILE_NAME);
        let fail = |message: String| DurableError { path: path.clone(), message };
        std::fs::create_dir_all(dir).map_err(|e| fail(format!("cannot create the data directory: {e}")))?;
        let conn = Connection::open(&path).map_err(|e| fail(e.to_string()))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=NORMAL;
             CREATE TABLE IF NOT EXISTS objects (
                 resource TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
                 PRIMARY KEY (resource, key)) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);",
        )
        .map_err(|e| fail(e.to_string()))?;
        let durable = Durable { conn, path: path.clone() };
        let loaded = durable.load()?;
        Ok((durable, loaded))
    }

    fn fail(&self, e: impl std::fmt::Display) -> DurableError {
        DurableError { path: self.path.clone(), message: e.to_string() }
    }

    fn load(&self) -> Result<Loaded, DurableError> {
        let rv: Option<i64> = self
            .conn
            .query_row("SELECT value FROM meta WHERE name = 'rv'", [], |r| r.get(0))
            .optional()
            .map_err(|e| self.fail(e))?;
        let mut stmt = self.conn.prepare("SELECT resource, key, value FROM objects").map_err(|e| self.fail(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, Vec<u8>>(2)?)))
            .map_err(|e| self.fail(e))?;
        let mut objects = Vec::new();
        for row in rows {
            let (resource, key, bytes) = row.map_err(|e| self.fail(e))?;
            let value = serde_json::from_slice(&bytes)
                .map_err(|e| self.fail(format!("object {resource} {key} is not JSON: {e}")))?;
            objects.push((resource, key, value));
        }
        Ok(Loaded { rv: rv.map_or(0, |v| u64::try_from(v).unwrap_or(0)), objects })
    }

    /// Stores the object under `(resource, key)` (its JSON `bytes`) written at `rv`.
    pub fn put(&mut self, resource: &str, key: &str, rv: u64, bytes: &[u8]) -> Result<(), DurableError> {
        self.write(rv, |tx| {
            tx.execute(
                "INSERT INTO objects (resource, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (resource, key) DO UPDATE SET value = excluded.value",
                params![resource, key, bytes],
            )
        })
    }

    /// Removes the object under `(resource, key)`, deleted at `rv`.
    pub fn remove(&mut self, resource: &str, key: &str, rv: u64) -> Result<(), DurableError> {
        self.write(rv, |tx| tx.execute("DELETE FROM objects WHERE resource = ?1 AND key = ?2", params![resource, key]))
    }

    /// One transaction: `change`, and the newest resourceVersion set to `rv`.
    fn write(
        &mut self,
        rv: u64,
        change: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<usize>,
    ) -> Result<(), DurableError> {
        let rv = i64::try_from(rv).map_err(|_| self.fail("resourceVersion out of range"))?;
        let path = &self.path;
        let fail = |e: rusqlite::Error| DurableError { path: path.clone(), message: e.to_string() };
        let tx = self.conn.transaction().map_err(fail)?;
        change(&tx).map_err(fail)?;
        tx.execute(
            "INSERT INTO meta (name, value) VALUES ('rv', ?1) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            params![rv],
        )
        .map_err(fail)?;
        tx.commit().map_err(fail)
    }
}

impl super::Persistence for Durable {
    fn put(&mut self, resource: &str, key: &str, rv: u64, bytes: &[u8]) -> Result<(), String> {
        Durable::put(self, resource, key, rv, bytes).map_err(|e| e.to_string())
    }

    fn remove(&mut self, resource: &str, key: &str, rv: u64) -> Result<(), String> {
        Durable::remove(self, resource, key, rv).map_err(|e| e.to_string())
    }
}

/// A store restored from the database in `dir`, keeping every later write there.
pub fn open_store(config: super::StoreConfig, dir: &Path) -> Result<super::Store, DurableError> {
    let (durable, loaded) = Durable::open(dir)?;
    Ok(super::Store::restored(config, Box::new(durable), loaded.rv, loaded.objects))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_and_the_resource_version_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let (mut db, loaded) = Durable::open(dir.path()).unwrap();
        assert_eq!((loaded.rv, loaded.objects.len()), (0, 0));
        db.put("/configmaps", "ns/a", 5, br#"{"v":1}"#).unwrap();
        db.put("/configmaps", "ns/a", 6, br#"{"v":2}"#).unwrap();
        db.put("apps/deployments", "ns/d", 7, br#"{"d":true}"#).unwrap();
        db.remove("apps/deployments", "ns/d", 8).unwrap();
        drop(db);
        let (_, loaded) = Durable::open(dir.path()).unwrap();
        assert_eq!(loaded.rv, 8, "the delete's resourceVersion is kept");
        assert_eq!(loaded.objects, vec![("/configmaps".to_owned(), "ns/a".to_owned(), json!({"v": 2}))]);
    }

    #[test]
    fn a_file_that_is_no_database_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), b"this is not a database, just text").unwrap();
        let err = Durable::open(dir.path()).unwrap_err();
        assert!(err.path.ends_with(FILE_NAME), "{err}");
        assert!(err.to_string().contains(FILE_NAME), "{err}");
    }
}
