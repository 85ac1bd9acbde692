//! One way to run a statement: its SQL and the list of what it binds, so a
//! query reads as one call instead of a chain of `.bind`s.

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::Any;

use super::columns::FromRow;
use super::{Db, DbError};

/// A value a statement binds: the column types the tables use.
#[derive(Debug, Clone, Copy)]
pub(super) enum Arg<'a> {
    Text(&'a str),
    OptText(Option<&'a str>),
    Int(i64),
    OptInt(Option<i64>),
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(v)
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(v)
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Arg::OptText(v)
    }
}

impl<'a> From<&'a Option<String>> for Arg<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Arg::OptText(v.as_deref())
    }
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}

impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Arg::OptInt(v)
    }
}

/// Booleans are stored as 0 / 1 (SQLite has no boolean type).
impl From<bool> for Arg<'_> {
    fn from(v: bool) -> Self {
        Arg::Int(i64::from(v))
    }
}

/// The arguments of a statement, in `$1, $2, …` order.
macro_rules! args {
    ($($arg:expr),* $(,)?) => {
        [$($crate::db::exec::Arg::from($arg)),*]
    };
}
pub(super) use args;

/// The statement with its arguments bound, for a caller that runs it
/// itself (in a transaction, with `fetch_one`).
pub(super) fn bound<'q>(sql: &'q str, args: impl Args<'q>) -> Query<'q, Any, AnyArguments<'q>> {
    args.into_iter()
        .fold(sqlx::query(sql), |query, arg| match arg {
            Arg::Text(v) => query.bind(v),
            Arg::OptText(v) => query.bind(v),
            Arg::Int(v) => query.bind(v),
            Arg::OptInt(v) => query.bind(v),
        })
}

/// The values a statement binds, in `$1, $2, …` order (what `args!` makes).
pub(super) trait Args<'q>: IntoIterator<Item = Arg<'q>> {}

impl<'q, T: IntoIterator<Item = Arg<'q>>> Args<'q> for T {}

type Res<T> = Result<T, DbError>;

impl Db {
    /// Runs a write whose effect the caller does not check.
    pub(super) async fn run<'q>(&self, sql: &'q str, args: impl Args<'q>) -> Res<()> {
        self.write(sql, args).await.map(drop)
    }

    /// Runs a write; how many rows it changed.
    pub(super) async fn write<'q>(&self, sql: &'q str, args: impl Args<'q>) -> Res<u64> {
        Ok(bound(sql, args).execute(self.pool()).await?.rows_affected())
    }

    /// Runs a write that may find nothing to do (already done, unknown,
    /// repeated): whether it changed a row.
    pub(super) async fn changed<'q>(&self, sql: &'q str, args: impl Args<'q>) -> Res<bool> {
        Ok(self.write(sql, args).await? > 0)
    }

    pub(super) async fn rows<'q>(&self, sql: &'q str, args: impl Args<'q>) -> Res<Vec<AnyRow>> {
        Ok(bound(sql, args).fetch_all(self.pool()).await?)
    }

    pub(super) async fn row<'q>(&self, sql: &'q str, args: impl Args<'q>) -> Res<Option<AnyRow>> {
        Ok(bound(sql, args).fetch_optional(self.pool()).await?)
    }

    /// The row of a query that finds one at most (by key, `LIMIT 1`), as a `T`.
    pub(super) async fn first<'q, T: FromRow>(
        &self,
        sql: &'q str,
        args: impl Args<'q>,
    ) -> Res<Option<T>> {
        Ok(self.all(sql, args).await?.into_iter().next())
    }

    /// Every row of a query, as `T`s.
    pub(super) async fn all<'q, T: FromRow>(
        &self,
        sql: &'q str,
        args: impl Args<'q>,
    ) -> Res<Vec<T>> {
        let rows = self.rows(sql, args).await?;
        rows.iter().map(T::from_row).collect()
    }
}
