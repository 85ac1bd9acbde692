//! One way to run a statement: its SQL and the list of what it binds, so a
//! query reads as one call instead of a chain of `.bind`s, and rows map
//! through one trait.

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::Any;

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

/// A row type read from a query's columns.
pub(super) trait FromRow: Sized {
    fn from_row(row: &AnyRow) -> Result<Self, DbError>;
}

pub(super) fn bound<'q>(
    sql: &'q str,
    args: impl IntoIterator<Item = Arg<'q>>,
) -> Query<'q, Any, AnyArguments<'q>> {
    args.into_iter()
        .fold(sqlx::query(sql), |query, arg| match arg {
            Arg::Text(v) => query.bind(v),
            Arg::OptText(v) => query.bind(v),
            Arg::Int(v) => query.bind(v),
            Arg::OptInt(v) => query.bind(v),
        })
}

impl Db {
    /// Runs a write; how many rows it changed.
    pub(super) async fn write<'q>(
        &self,
        sql: &'q str,
        args: impl IntoIterator<Item = Arg<'q>>,
    ) -> Result<u64, DbError> {
        Ok(bound(sql, args).execute(self.pool()).await?.rows_affected())
    }

    /// Runs a write that may find nothing to do (already done, unknown,
    /// repeated): whether it changed a row.
    pub(super) async fn changed<'q>(
        &self,
        sql: &'q str,
        args: impl IntoIterator<Item = Arg<'q>>,
    ) -> Result<bool, DbError> {
        Ok(self.write(sql, args).await? > 0)
    }

    pub(super) async fn rows<'q>(
        &self,
        sql: &'q str,
        args: impl IntoIterator<Item = Arg<'q>>,
    ) -> Result<Vec<AnyRow>, DbError> {
        Ok(bound(sql, args).fetch_all(self.pool()).await?)
    }

    pub(super) async fn row<'q>(
        &self,
        sql: &'q str,
        args: impl IntoIterator<Item = Arg<'q>>,
    ) -> Result<Option<AnyRow>, DbError> {
        Ok(bound(sql, args).fetch_optional(self.pool()).await?)
    }

    /// Every row of a query, as `T`s.
    pub(super) async fn all<'q, T: FromRow>(
        &self,
        sql: &'q str,
        args: impl IntoIterator<Item = Arg<'q>>,
    ) -> Result<Vec<T>, DbError> {
        self.rows(sql, args)
            .await?
            .iter()
            .map(T::from_row)
            .collect()
    }
}
