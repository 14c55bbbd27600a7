import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import semver from 'semver';

interface LockEntry {
  version?: string;
  engines?: Record<string, unknown> | unknown[];
}

describe('the declared Node.js engine', () => {
  // `npm ci` warns EBADENGINE when a locked package needs a newer Node than the one running it:
  // the oldest Node that package.json promises must satisfy every locked package.
  it('is true for every package in package-lock.json', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { engines: { node: string } };
    const lock = JSON.parse(readFileSync(new URL('../../package-lock.json', import.meta.url), 'utf8')) as { packages: Record<string, LockEntry> };
    const oldest = semver.minVersion(pkg.engines.node)?.version;
    expect(oldest, `engines.node ${pkg.engines.node}`).to.be.a('string');
    const needNewer = Object.entries(lock.packages)
      .filter(([path]) => path !== '')
      .flatMap(([path, entry]) => {
        const range = !Array.isArray(entry.engines) && typeof entry.engines?.node === 'string' ? entry.engines.node : undefined;
        return range !== undefined && !semver.satisfies(oldest ?? '', range) ? [`${path.replace(/^.*node_modules\//, '')}@${entry.version ?? '?'} needs node ${range}`] : [];
      });
    expect(needNewer, `package.json promises node ${pkg.engines.node}`).to.deep.equal([]);
  });
});
