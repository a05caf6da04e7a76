//! Store, import and SQL end-to-end tests: import original CEEMS databases with the real binary
//! and compare what `ceems-lake sql` answers with values computed here straight from the SQLite
//! files (rusqlite and plain loops).

mod aggregates;
mod compact;
mod crash;
mod import;
mod reference;
mod sql;
