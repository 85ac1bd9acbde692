//! One way to run a statement: its SQL and the list of what it binds, so a
//! query reads as one call instead of a chain of `.bind`s, and rows map
//! through one trait.

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::Any;

use super::{from_json, get, Db, DbError};

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

/// A field read from the column of the same name (see `from_row!`).
pub(super) trait Column: Sized {
    fn column(row: &AnyRow, name: &str) -> Result<Self, DbError>;
}

/// `FromRow` for a struct whose fields are all columns of the same names.
macro_rules! from_row {
    ($row:ident { $($field:ident),* $(,)? }) => {
        impl $crate::db::exec::FromRow for $row {
            fn from_row(row: &sqlx::any::AnyRow) -> Result<Self, $crate::db::DbError> {
                use $crate::db::exec::Column;
                Ok($row {
                    $($field: Column::column(row, stringify!($field))?),*
                })
            }
        }
    };
}
pub(super) use from_row;

/// Columns the database decodes as they are.
macro_rules! plain_columns {
    ($($t:ty),*) => {
        $(impl Column for $t {
            fn column(row: &AnyRow, name: &str) -> Result<Self, DbError> {
                get(row, name)
            }
        })*
    };
}
plain_columns!(String, i64, Option<String>, Option<i64>);

/// Booleans are stored as 0 / 1.
impl Column for bool {
    fn column(row: &AnyRow, name: &str) -> Result<Self, DbError> {
        Ok(get::<i64>(row, name)? != 0)
    }
}

impl Column for Option<bool> {
    fn column(row: &AnyRow, name: &str) -> Result<Self, DbError> {
        Ok(get::<Option<i64>>(row, name)?.map(|v| v != 0))
    }
}

/// Counts (`COUNT(*)`): never negative.
impl Column for u64 {
    fn column(row: &AnyRow, name: &str) -> Result<Self, DbError> {
        Ok(get::<i64>(row, name)?.max(0) as u64)
    }
}

/// Lists are stored as JSON text.
impl<T: serde::de::DeserializeOwned> Column for Vec<T> {
    fn column(row: &AnyRow, name: &str) -> Result<Self, DbError> {
        from_json(name, &get::<String>(row, name)?)
    }
}

/// A row as a tuple of the named columns.
pub(super) fn columns<A: Column, B: Column, C: Column>(
    row: &AnyRow,
    [a, b, c]: [&str; 3],
) -> Result<(A, B, C), DbError> {
    Ok((A::column(row, a)?, B::column(row, b)?, C::column(row, c)?))
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

    /// The first row of a query, if any, as a `T`.
    pub(super) async fn first<'q, T: FromRow>(
        &self,
        sql: &'q str,
        args: impl IntoIterator<Item = Arg<'q>>,
    ) -> Result<Option<T>, DbError> {
        self.row(sql, args)
            .await?
            .as_ref()
            .map(T::from_row)
            .transpose()
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
