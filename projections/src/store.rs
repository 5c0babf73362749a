//! The little SQL a projection needs, once for both backends: a connection of either kind,
//! column values, a set-based upsert (`UNNEST` on PostgreSQL, multi-row `VALUES` on SQLite)
//! and a set-based load of per-case states.

use std::collections::HashMap;

pub use prconfirm_migrations::{on_conn, Conn};

/// A column's SQL type, as the projections' tables use them: text and 64-bit integers only
/// (times are milliseconds since the epoch, booleans 0/1), so that one DDL serves both
/// backends and both sort the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Int,
}

/// A column value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(Option<String>),
    Int(Option<i64>),
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Text(Some(v))
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Text(Some(v.to_owned()))
    }
}
impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        Self::Text(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::Int(Some(v))
    }
}
impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        Self::Int(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Self::Int(Some(i64::from(v)))
    }
}

/// How a write treats the rows it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// Rows of these keys may exist: replace them (and, for a projection, delete the rows a
    /// case no longer has).
    Upsert,
    /// The table holds no row of these keys yet (a rebuild writing them for the first time):
    /// a plain bulk insert, `COPY` on PostgreSQL.
    Fresh,
}

/// Writes `rows` into `table` as `how` says: [`upsert`] replacing, or [`insert`].
///
/// # Errors
/// The driver's error.
pub async fn write(
    conn: &mut Conn<'_>,
    table: &str,
    shape: Shape,
    how: Write,
    rows: &[Vec<Value>],
) -> Result<(), sqlx::Error> {
    match how {
        Write::Upsert => upsert(conn, table, shape, OnConflict::Replace, rows).await,
        Write::Fresh => insert(conn, table, shape, rows).await,
    }
}

/// Inserts `rows`, none of whose keys `table` holds: `COPY` on PostgreSQL (an order of
/// magnitude less work for the server than an `INSERT` of the same rows), the multi-row
/// insert on SQLite.
///
/// # Errors
/// The driver's error, also for a key that exists.
pub async fn insert(
    conn: &mut Conn<'_>,
    table: &str,
    shape: Shape,
    rows: &[Vec<Value>],
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let Conn::Pg(c) = conn else {
        return upsert(conn, table, shape, OnConflict::Replace, rows).await;
    };
    let columns: Vec<&str> = shape.columns.iter().map(|(n, _)| *n).collect();
    let mut copy = c
        .copy_in_raw(&format!("COPY {table} ({}) FROM STDIN", columns.join(", ")))
        .await?;
    let mut buffer = String::with_capacity(1 << 20);
    for row in rows {
        for (i, value) in row.iter().enumerate() {
            if i > 0 {
                buffer.push('\t');
            }
            copy_text(&mut buffer, value);
        }
        buffer.push('\n');
        if buffer.len() >= 1 << 20 {
            copy.send(buffer.as_bytes()).await?;
            buffer.clear();
        }
    }
    if !buffer.is_empty() {
        copy.send(buffer.as_bytes()).await?;
    }
    copy.finish().await?;
    Ok(())
}

/// A value in `COPY`'s text format: `\N` for NULL, and backslash, tab, newline and carriage
/// return escaped.
fn copy_text(out: &mut String, value: &Value) {
    use std::fmt::Write as _;
    match value {
        Value::Text(None) | Value::Int(None) => out.push_str("\\N"),
        Value::Int(Some(n)) => {
            let _ = write!(out, "{n}");
        }
        Value::Text(Some(t)) => {
            // Copy the runs between special bytes whole (all four are ASCII, so a run never
            // splits a character).
            let mut rest = t.as_str();
            while let Some(i) = rest.find(['\\', '\t', '\n', '\r']) {
                out.push_str(&rest[..i]);
                out.push_str(match rest.as_bytes()[i] {
                    b'\\' => "\\\\",
                    b'\t' => "\\t",
                    b'\n' => "\\n",
                    _ => "\\r",
                });
                rest = &rest[i + 1..];
            }
            out.push_str(rest);
        }
    }
}

/// How an upsert treats a row whose key exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnConflict {
    /// The new row replaces the old one's columns.
    Replace,
    /// Every non-key column is a counter: the new value is added to the old.
    Add,
}

/// A table's shape as the upsert needs it: the key columns come first in `columns`.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub columns: &'static [(&'static str, Kind)],
    pub key_len: usize,
}

/// SQLite allows 32,766 parameters per statement; stay well below.
const SQLITE_MAX_PARAMS: usize = 30_000;

/// Inserts `rows` (each in `shape.columns` order, one per key) into `table`, resolving
/// conflicts on the key as `on_conflict` says. One statement per backend round trip.
///
/// # Errors
/// The driver's error.
pub async fn upsert(
    conn: &mut Conn<'_>,
    table: &str,
    shape: Shape,
    on_conflict: OnConflict,
    rows: &[Vec<Value>],
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = shape.columns.iter().map(|(n, _)| *n).collect();
    let key = names[..shape.key_len].join(", ");
    let rest = &names[shape.key_len..];
    let update = if rest.is_empty() {
        "NOTHING".to_owned()
    } else {
        let sets: Vec<String> = rest
            .iter()
            .map(|c| match on_conflict {
                OnConflict::Replace => format!("{c} = excluded.{c}"),
                OnConflict::Add => format!("{c} = {table}.{c} + excluded.{c}"),
            })
            .collect();
        format!("UPDATE SET {}", sets.join(", "))
    };
    let columns = names.join(", ");
    match conn {
        Conn::Pg(c) => {
            let arrays: Vec<String> = shape
                .columns
                .iter()
                .enumerate()
                .map(|(i, (_, kind))| match kind {
                    Kind::Text => format!("${}::text[]", i + 1),
                    Kind::Int => format!("${}::int8[]", i + 1),
                })
                .collect();
            let sql = format!(
                "INSERT INTO {table} ({columns}) SELECT * FROM UNNEST({}) \
                 ON CONFLICT ({key}) DO {update}",
                arrays.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for (i, (_, kind)) in shape.columns.iter().enumerate() {
                query = match kind {
                    Kind::Text => query.bind(
                        rows.iter()
                            .map(|r| match &r[i] {
                                Value::Text(t) => t.clone(),
                                Value::Int(n) => n.map(|n| n.to_string()),
                            })
                            .collect::<Vec<Option<String>>>(),
                    ),
                    Kind::Int => query.bind(
                        rows.iter()
                            .map(|r| match &r[i] {
                                Value::Int(n) => *n,
                                Value::Text(t) => t.as_deref().and_then(|t| t.parse().ok()),
                            })
                            .collect::<Vec<Option<i64>>>(),
                    ),
                };
            }
            query.execute(&mut **c).await?;
        }
        Conn::Sqlite(c) => {
            let width = shape.columns.len();
            let per_statement = (SQLITE_MAX_PARAMS / width).max(1);
            for chunk in rows.chunks(per_statement) {
                let tuple = format!("({})", vec!["?"; width].join(", "));
                let sql = format!(
                    "INSERT INTO {table} ({columns}) VALUES {} ON CONFLICT ({key}) DO {update}",
                    vec![tuple.as_str(); chunk.len()].join(", ")
                );
                let mut query = sqlx::query(&sql);
                for row in chunk {
                    for value in row {
                        query = match value {
                            Value::Text(t) => query.bind(t.clone()),
                            Value::Int(n) => query.bind(*n),
                        };
                    }
                }
                query.execute(&mut **c).await?;
            }
        }
    }
    Ok(())
}

/// The `seq` and `state` (JSON text) columns of each row of `table` whose `case_id` is in
/// `ids`.
///
/// # Errors
/// The driver's error.
pub async fn load_states(
    conn: &mut Conn<'_>,
    table: &str,
    ids: &[&str],
) -> Result<HashMap<String, (i64, String)>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, i64, String)> = match conn {
        Conn::Pg(c) => {
            let sql = format!("SELECT case_id, seq, state FROM {table} WHERE case_id = ANY($1)");
            sqlx::query_as(&sql).bind(ids).fetch_all(&mut **c).await?
        }
        Conn::Sqlite(c) => {
            let sql = format!(
                "SELECT case_id, seq, state FROM {table} \
                 WHERE case_id IN (SELECT value FROM json_each(?1))"
            );
            let list = serde_json::to_string(ids).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
            sqlx::query_as(&sql).bind(list).fetch_all(&mut **c).await?
        }
    };
    Ok(rows
        .into_iter()
        .map(|(id, seq, state)| (id, (seq, state)))
        .collect())
}

/// Deletes the rows of `table` whose `case_id` is in `ids`.
///
/// # Errors
/// The driver's error.
pub async fn delete_cases(
    conn: &mut Conn<'_>,
    table: &str,
    ids: &[&str],
) -> Result<(), sqlx::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    match conn {
        Conn::Pg(c) => {
            let sql = format!("DELETE FROM {table} WHERE case_id = ANY($1)");
            sqlx::query(&sql).bind(ids).execute(&mut **c).await?;
        }
        Conn::Sqlite(c) => {
            let sql =
                format!("DELETE FROM {table} WHERE case_id IN (SELECT value FROM json_each(?1))");
            let list = serde_json::to_string(ids).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
            sqlx::query(&sql).bind(list).execute(&mut **c).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_what_copy_would_misread() {
        let mut out = String::new();
        copy_text(&mut out, &Value::from("a\\b\tc\nd\re \"Zoë\" \\N"));
        assert_eq!(out, "a\\\\b\\tc\\nd\\re \"Zoë\" \\\\N");
        out.clear();
        copy_text(&mut out, &Value::Text(None));
        copy_text(&mut out, &Value::from(-42));
        assert_eq!(out, "\\N-42");
    }
}
