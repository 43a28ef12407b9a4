//! File-level errors: the whole import (or export) is refused.

/// Why a whole file was refused. Per-row problems are [`crate::RowError`]s instead.
///
/// `Display` is English (logs, English UI); [`SheetError::message_ru`] is the Russian text
/// for the Russian-first UI; [`SheetError::code`] is stable for clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SheetError {
    /// The bytes are neither CSV text nor an XLSX workbook.
    #[error(
        "the file is neither CSV nor XLSX; save it from Excel as \"Excel Workbook (*.xlsx)\" or \"CSV (semicolon delimited)\""
    )]
    UnrecognisedFormat,
    /// Nothing but whitespace (or nothing at all).
    #[error("the file is empty; put a header row and one row per client in it")]
    Empty,
    /// A header row but no client rows below it.
    #[error("the file has a header row but no client rows below it")]
    NoDataRows,
    /// No column could be read as the company name.
    #[error(
        "no company column: say which column holds the company's name, or name one \"Компания\" or \"company\" (headers found: {})",
        found.join(", ")
    )]
    NoCompanyColumn {
        /// The headers as written in the file.
        found: Vec<String>,
    },
    /// The lead's column choice names a field the import does not have.
    #[error(
        "column \"{header}\" is mapped to {field:?}, which is no client field; pick one of the listed fields or skip the column"
    )]
    UnknownField {
        /// The column's header.
        header: String,
        /// The field name given.
        field: String,
    },
    /// The upload is larger than [`crate::Limits::max_bytes`].
    #[error(
        "the file is {size} bytes, more than the limit of {limit} bytes; split it into smaller files"
    )]
    TooLarge {
        /// Size of the upload in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The XLSX unpacks to more than [`crate::Limits::max_unzipped_bytes`].
    #[error(
        "the workbook unpacks to more than {limit} bytes; keep only the client list in it (remove other sheets and images)"
    )]
    UnzippedTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// More client rows than [`crate::Limits::max_rows`].
    #[error("the file has more than {limit} client rows; split it into smaller files")]
    TooManyRows {
        /// The limit in rows.
        limit: usize,
    },
    /// The header row has more columns than Excel allows.
    #[error("the header row has more than {limit} columns; is the delimiter right?")]
    TooManyColumns {
        /// The limit in columns.
        limit: usize,
    },
    /// The bytes look like a workbook (zip) but cannot be read as XLSX.
    #[error(
        "the XLSX file cannot be opened ({reason}); open it in Excel and save it again as .xlsx"
    )]
    XlsxUnreadable {
        /// What the XLSX reader reported.
        reason: String,
    },
    /// Writing an XLSX failed (for example a sheet name Excel does not allow).
    #[error("the XLSX export failed: {reason}")]
    XlsxWrite {
        /// What the XLSX writer reported.
        reason: String,
    },
}

impl SheetError {
    /// A stable code for clients (does not change when the message does).
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnrecognisedFormat => "unrecognised_format",
            Self::Empty => "empty_file",
            Self::NoDataRows => "no_data_rows",
            Self::NoCompanyColumn { .. } => "no_company_column",
            Self::UnknownField { .. } => "unknown_field",
            Self::TooLarge { .. } => "file_too_large",
            Self::UnzippedTooLarge { .. } => "unzipped_too_large",
            Self::TooManyRows { .. } => "too_many_rows",
            Self::TooManyColumns { .. } => "too_many_columns",
            Self::XlsxUnreadable { .. } => "xlsx_unreadable",
            Self::XlsxWrite { .. } => "xlsx_write_failed",
        }
    }

    /// The message in Russian, for the Russian-first UI.
    pub fn message_ru(&self) -> String {
        match self {
            Self::UnrecognisedFormat => "Файл не является ни CSV, ни XLSX. Сохраните его из Excel как «Книга Excel (*.xlsx)» или «CSV (разделители — точки с запятой)».".to_owned(),
            Self::Empty => "Файл пуст. Нужна строка заголовков и по строке на каждого клиента.".to_owned(),
            Self::NoDataRows => "В файле есть строка заголовков, но нет ни одной строки с клиентом.".to_owned(),
            Self::NoCompanyColumn { found } => format!(
                "Нет столбца с названием компании: укажите, в каком столбце название, или назовите один из столбцов «Компания» или «company» (найдены заголовки: {}).",
                found.join(", ")
            ),
            Self::UnknownField { header, field } => format!(
                "Столбец «{header}» сопоставлен с полем «{field}», которого нет: выберите поле из списка или пропустите столбец."
            ),
            Self::TooLarge { size, limit } => format!(
                "Файл занимает {size} байт, больше допустимых {limit} байт. Разбейте его на несколько файлов."
            ),
            Self::UnzippedTooLarge { limit } => format!(
                "Книга после распаковки больше {limit} байт. Оставьте в ней только список клиентов (удалите другие листы и картинки)."
            ),
            Self::TooManyRows { limit } => format!(
                "В файле больше {limit} строк с клиентами. Разбейте его на несколько файлов."
            ),
            Self::TooManyColumns { limit } => format!(
                "В строке заголовков больше {limit} столбцов. Проверьте разделитель."
            ),
            Self::XlsxUnreadable { reason } => format!(
                "Не удалось открыть XLSX-файл ({reason}). Откройте его в Excel и сохраните заново как .xlsx."
            ),
            Self::XlsxWrite { reason } => format!("Не удалось сформировать XLSX: {reason}"),
        }
    }
}
