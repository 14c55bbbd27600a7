import type { IndexDeclaration } from './database.js';

/** The indexes of every repository; the worker creates them all at start. */
export const INDEX_DECLARATIONS: readonly IndexDeclaration[] = [];
