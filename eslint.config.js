import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const IO_LIBRARIES = ['mongodb', 'axios', 'winston', 'node-cron', 'fastify', 'agenda', '@agendajs/mongo-backend', 'prom-client'];

export default tseslint.config(
  { ignores: ['node_modules/', '.cache/', '.data/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { console: 'readonly', process: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', performance: 'readonly', Buffer: 'readonly', AbortController: 'readonly', NodeJS: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // `new Date()` reads the wall clock: only the system clock may do that; everything else gets a Clock.
      'no-restricted-syntax': ['error', { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'Use the injected Clock instead of new Date().' }],
    },
  },
  {
    files: ['src/app/system-clock.ts', 'test/**', 'scripts/bench*.ts'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  {
    files: ['src/domain/**'],
    rules: {
      'no-restricted-imports': ['error', { paths: IO_LIBRARIES.map((name) => ({ name, message: 'src/domain/ holds pure rules: pass I/O in from src/app/.' })), patterns: [{ group: IO_LIBRARIES.map((n) => `${n}/*`), message: 'src/domain/ holds pure rules.' }, { group: ['node:*'], message: 'src/domain/ holds pure rules: no Node I/O modules.' }] }],
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'src/domain/ never reads the environment: take values from Config.' }],
      'no-restricted-globals': ['error', { name: 'process', message: 'src/domain/ never touches the process.' }],
    },
  },
  {
    files: ['test/**'],
    languageOptions: { globals: { describe: 'readonly', it: 'readonly', before: 'readonly', after: 'readonly', beforeEach: 'readonly', afterEach: 'readonly', Mocha: 'readonly' } },
    rules: { '@typescript-eslint/no-unused-expressions': 'off' },
  },
);
