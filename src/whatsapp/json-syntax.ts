/** Where a text stops being JSON, and what kind of error it is: never what the text says there. */
export interface JsonSyntaxError {
  /** 0-based index of the first character that makes the text invalid (its length when it ends too early). */
  readonly offset: number;
  readonly problem: string;
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const LITERAL = /true|false|null/y;
const ESCAPE = /\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})/y;

function isSpace(c: string | undefined): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\r';
}

/**
 * Finds the first syntax error of a text that `JSON.parse` refused. V8's own message quotes the
 * text around the error (`Unexpected token 'x', "[4917…,x]" is not valid JSON`), and what a
 * webhook sender wrote must not reach logs or answers; this says only where and what kind.
 * One pass, no recursion (deeply nested input cannot exhaust the stack).
 */
export function jsonSyntaxError(text: string): JsonSyntaxError {
  let i = 0;
  const stack: ('[' | '{')[] = [];
  const at = (problem: string): JsonSyntaxError => ({ offset: i, problem: i >= text.length ? 'the text ends too early' : problem });
  const skipSpace = (): void => {
    while (isSpace(text[i])) i += 1;
  };
  const match = (pattern: RegExp): boolean => {
    pattern.lastIndex = i;
    if (!pattern.test(text)) return false;
    i = pattern.lastIndex;
    return true;
  };
  /** A string starting at `i`; undefined when it is valid (then `i` is past it). */
  const string = (): JsonSyntaxError | undefined => {
    if (text[i] !== '"') return at('expected a string');
    i += 1;
    for (;;) {
      const c = text[i];
      if (c === undefined) return at('unterminated string');
      if (c === '"') {
        i += 1;
        return undefined;
      }
      if (c === '\\') {
        if (!match(ESCAPE)) return at('invalid escape in a string');
        continue;
      }
      if (c < ' ') return at('control character in a string');
      i += 1;
    }
  };
  /** After a key: the colon, then the value follows. */
  const key = (): JsonSyntaxError | undefined => {
    const bad = string();
    if (bad) return bad;
    skipSpace();
    if (text[i] !== ':') return at('expected a colon after a key');
    i += 1;
    return undefined;
  };

  for (;;) {
    // A value starts here.
    skipSpace();
    const c = text[i];
    let complete = true;
    if (c === '{' || c === '[') {
      i += 1;
      skipSpace();
      if (text[i] === (c === '{' ? '}' : ']')) {
        i += 1;
      } else {
        stack.push(c);
        complete = false;
        if (c === '{') {
          const bad = key();
          if (bad) return bad;
        }
      }
    } else if (c === '"') {
      const bad = string();
      if (bad) return bad;
    } else if (!match(NUMBER) && !match(LITERAL)) {
      return at('unexpected character where a value should start');
    }
    if (!complete) continue;

    // After a complete value: close containers, or a comma and the next value.
    for (;;) {
      skipSpace();
      const open = stack.at(-1);
      if (open === undefined) {
        return i < text.length ? at('unexpected character after the end of the JSON value') : { offset: i, problem: 'not valid JSON' };
      }
      const close = open === '{' ? '}' : ']';
      if (text[i] === close) {
        i += 1;
        stack.pop();
        continue;
      }
      if (text[i] !== ',') return at(`expected a comma or ${close}`);
      i += 1;
      if (open === '{') {
        skipSpace();
        const bad = key();
        if (bad) return bad;
      }
      break;
    }
  }
}
