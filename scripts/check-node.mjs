// Preflight of the npm scripts that run TypeScript files (`node scripts/x.ts`): an old Node dies
// on those before any code runs (ERR_UNKNOWN_FILE_EXTENSION), so this plain-JS check runs first
// and prints one line instead. Same check and message as src/node-version.ts (which the built
// entrypoints import); test/unit/node-version.test.ts keeps the two in step.
export const NODE_FLOOR = '22.19.0';
export const NODE_HELP =
  'see "Getting Node.js" in README.md (nvm install 24, or npm install --prefix /opt/node24 node@24)';

function parts(version) {
  return version
    .replace(/^v/, '')
    .split('.')
    .map((n) => Number.parseInt(n, 10) || 0);
}

export function unsupportedNodeMessage(found, floor = NODE_FLOOR) {
  const [a, b] = [parts(found), parts(floor)];
  for (let i = 0; i < 3; i++) {
    if ((a[i] || 0) > (b[i] || 0)) return undefined;
    if ((a[i] || 0) < (b[i] || 0)) {
      return `mcp-hybrid needs Node.js >= ${floor}, found ${found.replace(/^v?/, 'v')}: ${NODE_HELP}`;
    }
  }
  return undefined;
}

const refusal = unsupportedNodeMessage(process.versions.node);
if (refusal !== undefined) {
  process.stderr.write(`${refusal}\n`);
  process.exit(1);
}
