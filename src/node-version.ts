/**
 * Refuses to run on a Node.js older than the `engines` floor of package.json, with ONE line that
 * names the version found, the version needed and where the README says how to get Node 24.
 *
 * The entrypoints import this module first: ESM evaluates a module's imports in order, so the
 * check runs before any module that needs a newer Node has run (and the modules those load
 * lazily — `node:sqlite` — are never reached). Nothing here may need more than an old Node.
 * scripts/check-node.mjs is the same check for npm scripts that run TypeScript files, which an
 * old Node cannot even load; test/unit/node-version.test.ts keeps the two in step.
 */

/** package.json `engines.node` is `>=${NODE_FLOOR}`. */
export const NODE_FLOOR = '22.19.0';
export const NODE_HELP =
  'see "Getting Node.js" in README.md (nvm install 24, or npm install --prefix /opt/node24 node@24)';

function parts(version: string): number[] {
  return version
    .replace(/^v/, '')
    .split('.')
    .map((n) => Number.parseInt(n, 10) || 0);
}

/** The refusal line for `found`, or undefined when `found` is new enough. */
export function unsupportedNodeMessage(found: string, floor: string = NODE_FLOOR): string | undefined {
  const [a, b] = [parts(found), parts(floor)];
  for (let i = 0; i < 3; i++) {
    if ((a[i] ?? 0) > (b[i] ?? 0)) return undefined;
    if ((a[i] ?? 0) < (b[i] ?? 0)) {
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
