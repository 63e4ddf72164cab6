// Marks the package's bin files (package.json "bin", relative to the current directory)
// executable after `tsc` wrote them: tsc writes 0644, and `npx kafka-worker` in a checkout runs
// the file itself ("Permission denied" otherwise). Plain JS, like check-node.mjs.
import { chmodSync, readFileSync, statSync } from 'node:fs';

const { bin = {} } = JSON.parse(readFileSync('package.json', 'utf8'));
for (const file of Object.values(bin)) {
  chmodSync(file, statSync(file).mode | 0o111);
}
