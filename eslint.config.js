// ESLint for the browser widgets (service/commentd/static): `npm ci && npx eslint service/commentd/static`.
// They are plain scripts (no modules, no build step) for evergreen browsers from 2021 on: ES2020.
// The service joins src/common.js and a widget into one function (commentd/web/widgets.py);
// the names that cross files are declared in each file with /* global */ and /* exported */.
const js = require("@eslint/js");
const globals = require("globals");

module.exports = [
  { ignores: [".venv/", "build/", "dist/"] },
  {
    files: ["service/commentd/static/**/*.js"],
    ...js.configs.recommended,
    languageOptions: {
      ecmaVersion: 2020,
      sourceType: "script",
      globals: { ...globals.browser },
    },
    linterOptions: { reportUnusedDisableDirectives: "error" },
  },
  {
    files: ["eslint.config.js"],
    languageOptions: { sourceType: "commonjs", globals: { ...globals.node } },
  },
];
