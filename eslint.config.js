// ESLint checks correctness (neostandard's rules for TypeScript); Prettier owns the layout (.prettierrc.json), and
// max-len catches what Prettier cannot wrap: comments. Long strings and templates stay whole, as they read better.
import stylistic from '@stylistic/eslint-plugin'
import neostandard from 'neostandard'

export default [
  { ignores: ['dist/', 'coverage/', '.tap/', '.scratch/', '.data/', 'server/db/generated/'] },
  ...neostandard({ ts: true, noStyle: true }),
  {
    plugins: { '@stylistic': stylistic },
    rules: {
      '@stylistic/max-len': [
        'error',
        {
          code: 120,
          ignoreUrls: true,
          ignoreStrings: true,
          ignoreTemplateLiterals: true,
          ignoreRegExpLiterals: true,
        },
      ],
      // `void promise` marks a promise whose rejection is handled elsewhere (a .catch on it, or an owner's handler).
      'no-void': ['error', { allowAsStatement: true }],
      // Its loops wait on flags that callbacks flip (`while (!stopped)`), which the rule cannot see.
      'no-unmodified-loop-condition': 'off',
      // A `let` assigned once after a closure that reads it (a timer cleared by a callback set up first) stays `let`.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    // Compose, Grafana and Fluent Bit interpolate `${VAR}` themselves: these tests hold such strings on purpose.
    files: ['test/compose/**', 'test/ops/**', 'test/dockerfile/**'],
    rules: { 'no-template-curly-in-string': 'off' },
  },
]
