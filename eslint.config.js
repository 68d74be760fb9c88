import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "data/**", "test-results/**", "coverage/**", "bench/results/**", "docs-api/**", ".probe/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      eqeqeq: ["error", "always", { null: "ignore" }],
    },
  },
  {
    // Layers: stores talk to databases and know nothing of the middleware above them.
    files: ["src/stores/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ["**/session/*", "../session", "**/auth/*", "../auth"], message: "src/stores must not import src/session or src/auth (layers: app → auth → session → stores/crypto)." },
          ],
        },
      ],
    },
  },
  {
    files: ["app/public/**/*.js"],
    languageOptions: { globals: { document: "readonly", window: "readonly", fetch: "readonly" } },
  },
);
