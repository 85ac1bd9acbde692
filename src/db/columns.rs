//! Rows from columns: a field of a row type is read from the column of the
//! same name, decoded by its type (`Column`), and `from_row!` writes the
//! mapping of a whole row.

use sqlx::any::AnyRow;

use super::{from_json, get, DbError};

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
        impl $crate::db::columns::FromRow for $row {
            fn from_row(row: &sqlx::any::AnyRow) -> Result<Self, $crate::db::DbError> {
                use $crate::db::columns::Column;
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
