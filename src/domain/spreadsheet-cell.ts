/**
 * A cell a spreadsheet would read as a formula: it starts with `=`, `+`, `-` or `@`, or with a
 * tab or carriage return that some programs strip before looking (OWASP's CSV injection list).
 */
const FORMULA_START = /^[=+\-@\t\r]/;
/** A plain number (`+4915112345678`, `-1.5`): a spreadsheet reads it as a number, nothing runs. */
const PLAIN_NUMBER = /^[+-]?\d+(\.\d+)?$/;

/**
 * Makes an exported text cell safe to open in a spreadsheet: one that would be executed as a
 * formula (`=HYPERLINK(...)`, `@SUM(...)`, `-2+3`) gets a leading apostrophe, which spreadsheets
 * show as text. Plain numbers, E.164 phone numbers among them, stay as they are.
 */
export function neutralizeFormula(cell: string): string {
  return FORMULA_START.test(cell) && !PLAIN_NUMBER.test(cell) ? `'${cell}` : cell;
}
