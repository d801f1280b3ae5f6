import {
  EMPTY_ROOT,
  MerkleFrontier,
  MissingNodeError,
  consistencyProof,
  coordKey,
  frontierCoordinates,
  inclusionProof,
  leafHash,
  nodeHash,
  rangeCoordinates,
  rootFromInclusionProof,
  rootOf,
  subtreeRoot,
  treeRoot,
  verifyConsistency,
  verifyInclusion,
  type NodeCoord,
  type NodeFetcher,
} from '../../src/evidence/merkle';

const h = (hex: string): Buffer => Buffer.from(hex, 'hex');

// The 8-leaf tree of the Certificate Transparency test suites (certificate-transparency,
// trillian, transparency-dev/merkle proof/verify_test.go): leaf data, MTH of each prefix, and
// the published proofs. Leaf numbers in the published inclusion vectors are 1-based.
const CT_LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'];
const CT_ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];
const CT_INCLUSION: { leaf: number; size: number; proof: string[] }[] = [
  { leaf: 1, size: 1, proof: [] },
  {
    leaf: 1,
    size: 8,
    proof: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    leaf: 6,
    size: 8,
    proof: [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  { leaf: 3, size: 3, proof: ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125'] },
  {
    leaf: 2,
    size: 5,
    proof: [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
];
const CT_CONSISTENCY: { m: number; n: number; proof: string[] }[] = [
  { m: 1, n: 1, proof: [] },
  {
    m: 1,
    n: 8,
    proof: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    m: 6,
    n: 8,
    proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  {
    m: 2,
    n: 5,
    proof: [
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
  {
    m: 6,
    n: 7,
    proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
];

// --- Reference definitions, written from RFC 9162 §2.1.3.1 / §2.1.4.1, independent of merkle.ts ---

function largestPow2Below(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function refPath(m: number, d: Buffer[]): Buffer[] {
  if (d.length === 1) return [];
  const k = largestPow2Below(d.length);
  if (m < k) return [...refPath(m, d.slice(0, k)), rootOf(d.slice(k))];
  return [...refPath(m - k, d.slice(k)), rootOf(d.slice(0, k))];
}

function refProof(m: number, d: Buffer[]): Buffer[] {
  return refSubproof(m, d, true);
}

function refSubproof(m: number, d: Buffer[], b: boolean): Buffer[] {
  if (m === d.length) return b ? [] : [rootOf(d)];
  const k = largestPow2Below(d.length);
  if (m <= k) return [...refSubproof(m, d.slice(0, k), b), rootOf(d.slice(k))];
  return [...refSubproof(m - k, d.slice(k), false), rootOf(d.slice(0, k))];
}

/** A node store in memory, as the database holds it: leaves at level 0, completed nodes above. */
function memoryStore(leaves: Buffer[]): { fetch: NodeFetcher; calls: NodeCoord[][]; nodes: Map<string, Buffer> } {
  const nodes = new Map<string, Buffer>();
  const frontier = MerkleFrontier.empty();
  leaves.forEach((leaf, i) => {
    nodes.set(coordKey({ level: 0, idx: i }), leaf);
    for (const n of frontier.push(leaf)) nodes.set(coordKey(n), n.hash);
  });
  const calls: NodeCoord[][] = [];
  const fetch: NodeFetcher = async (coords) => {
    calls.push(coords);
    const out = new Map<string, Buffer>();
    for (const c of coords) {
      const v = nodes.get(coordKey(c));
      if (v) out.set(coordKey(c), v);
    }
    return out;
  };
  return { fetch, calls, nodes };
}

const ctLeafHashes = CT_LEAVES.map((d) => leafHash(h(d)));
const someHash = h('abacaba000000000000000000000000000000000000000000060061e00123456');

/** Jest compares Buffers byte by byte as objects, which is slow; hex strings compare fast. */
const hexes = (bs: Buffer[]): string[] => bs.map((b) => b.toString('hex'));

function flipBit(b: Buffer, bit: number): Buffer {
  const c = Buffer.from(b);
  c[0] = (c[0] as number) ^ (1 << bit);
  return c;
}

describe('Merkle tree: Certificate Transparency reference vectors', () => {
  test('the empty tree is SHA-256 of the empty string', () => {
    expect(rootOf([]).toString('hex')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(EMPTY_ROOT.equals(rootOf([]))).toBe(true);
    expect(MerkleFrontier.empty().root().equals(EMPTY_ROOT)).toBe(true);
  });

  test('roots of every prefix of the 8-leaf tree, by the recursive definition, the frontier and stored nodes', async () => {
    const { fetch } = memoryStore(ctLeafHashes);
    const frontier = MerkleFrontier.empty();
    for (let n = 1; n <= 8; n++) {
      frontier.push(ctLeafHashes[n - 1] as Buffer);
      expect(rootOf(ctLeafHashes.slice(0, n)).toString('hex')).toBe(CT_ROOTS[n - 1]);
      expect(frontier.root().toString('hex')).toBe(CT_ROOTS[n - 1]);
      expect((await treeRoot(n, fetch)).toString('hex')).toBe(CT_ROOTS[n - 1]);
    }
  });

  test.each(CT_INCLUSION)('inclusion proof of leaf $leaf in a tree of $size', async ({ leaf, size, proof }) => {
    const { fetch } = memoryStore(ctLeafHashes.slice(0, size));
    const index = leaf - 1;
    const got = await inclusionProof(index, size, fetch);
    expect(got.map((b) => b.toString('hex'))).toEqual(proof);
    const root = h(CT_ROOTS[size - 1] as string);
    const lh = ctLeafHashes[index] as Buffer;
    const p = proof.map(h);
    expect(verifyInclusion(index, size, lh, p, root)).toBe(true);
    expect(rootFromInclusionProof(index, size, lh, p)?.equals(root)).toBe(true);

    // The corruptions of transparency-dev's verify_test.go: each must be refused.
    const bad: [string, number, number, Buffer, Buffer[], Buffer][] = [
      ['index - 1', index - 1, size, lh, p, root],
      ['index + 1', index + 1, size, lh, p, root],
      ['index ^ 2', index ^ 2, size, lh, p, root],
      ['size * 2', index, size * 2, lh, p, root],
      ['size / 2', index, Math.floor(size / 2), lh, p, root],
      ['wrong leaf', index, size, Buffer.from('WrongLeaf'), p, root],
      ['empty root', index, size, lh, p, EMPTY_ROOT],
      ['random root', index, size, lh, p, someHash],
      ['trailing garbage', index, size, lh, [...p, Buffer.alloc(0)], root],
      ['trailing root', index, size, lh, [...p, root], root],
      ['preceding garbage', index, size, lh, [Buffer.alloc(0), ...p], root],
      ['preceding root', index, size, lh, [root, ...p], root],
    ];
    p.forEach((_, i) =>
      bad.push([`flipped bit in proof[${i}]`, index, size, lh, p.map((x, j) => (j === i ? flipBit(x, 3) : x)), root]),
    );
    if (p.length > 0) bad.push(['removed component', index, size, lh, p.slice(0, -1), root]);
    if (p.length > 1) bad.push(['inserted component', index, size, lh, [p[0] as Buffer, someHash, ...p.slice(1)], root]);
    const accepted = bad.filter(([, i, s, l, pr, r]) => verifyInclusion(i, s, l, pr, r)).map(([d]) => d);
    expect(accepted).toEqual([]);
  });

  test.each(CT_CONSISTENCY)('consistency proof from $m to $n', async ({ m, n, proof }) => {
    const { fetch } = memoryStore(ctLeafHashes.slice(0, n));
    const got = await consistencyProof(m, n, fetch);
    expect(got.map((b) => b.toString('hex'))).toEqual(proof);
    const r1 = h(CT_ROOTS[m - 1] as string);
    const r2 = h(CT_ROOTS[n - 1] as string);
    const p = proof.map(h);
    expect(verifyConsistency(m, n, p, r1, r2)).toBe(true);
    if (p.length === 0) return;

    const wrongRoot = Buffer.from('WrongRoot');
    const bad: [string, number, number, Buffer[], Buffer, Buffer][] = [
      ['m - 1', m - 1, n, p, r1, r2],
      ['m + 1', m + 1, n, p, r1, r2],
      ['m ^ 2', m ^ 2, n, p, r1, r2],
      ['n * 2', m, n * 2, p, r1, r2],
      ['n / 2', m, Math.floor(n / 2), p, r1, r2],
      ['wrong root m', m, n, p, wrongRoot, r2],
      ['wrong root n', m, n, p, r1, wrongRoot],
      ['swapped roots', m, n, p, r2, r1],
      ['empty proof', m, n, [], r1, r2],
      ['trailing garbage', m, n, [...p, Buffer.alloc(0)], r1, r2],
      ['trailing root m', m, n, [...p, r1], r1, r2],
      ['trailing root n', m, n, [...p, r2], r1, r2],
      ['preceding garbage', m, n, [Buffer.alloc(0), ...p], r1, r2],
      ['preceding root m', m, n, [r1, ...p], r1, r2],
      ['preceding root n', m, n, [r2, ...p], r1, r2],
      ['preceding proof[0]', m, n, [p[0] as Buffer, ...p], r1, r2],
      ['truncated proof', m, n, p.slice(0, -1), r1, r2],
    ];
    p.forEach((_, i) => bad.push([`flipped bit in proof[${i}]`, m, n, p.map((x, j) => (j === i ? flipBit(x, 4) : x)), r1, r2]));
    const accepted = bad.filter(([, a, b, pr, x, y]) => verifyConsistency(a, b, pr, x, y)).map(([d]) => d);
    expect(accepted).toEqual([]);
  });

  test('consistency edge cases', () => {
    const r1 = h(CT_ROOTS[0] as string);
    const r2 = h(CT_ROOTS[1] as string);
    expect(verifyConsistency(1, 1, [], r1, r1)).toBe(true);
    expect(verifyConsistency(1, 1, [], r1, r2)).toBe(false); // same size, different roots
    expect(verifyConsistency(1, 1, [EMPTY_ROOT], r1, r1)).toBe(false); // equal roots, proof not empty
    expect(verifyConsistency(2, 1, [], r2, r1)).toBe(false); // time travel
    expect(verifyConsistency(1, 2, [], r1, r2)).toBe(false); // empty proof
    // Every tree extends the empty one, but the empty tree has exactly one root.
    expect(verifyConsistency(0, 2, [], EMPTY_ROOT, r2)).toBe(true);
    expect(verifyConsistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)).toBe(true);
    expect(verifyConsistency(0, 2, [], r1, r2)).toBe(false);
    expect(verifyConsistency(0, 2, [EMPTY_ROOT], EMPTY_ROOT, r2)).toBe(false);
    // Inclusion: nothing is in an empty tree; a one-leaf tree's root is its leaf.
    expect(verifyInclusion(0, 0, someHash, [], EMPTY_ROOT)).toBe(false);
    expect(verifyInclusion(0, 1, someHash, [], someHash)).toBe(true);
    expect(verifyInclusion(1, 1, someHash, [], someHash)).toBe(false);
    expect(verifyInclusion(0, 1, someHash, [], Buffer.alloc(0))).toBe(false);
    expect(verifyInclusion(-1, 1, someHash, [], someHash)).toBe(false);
    expect(verifyInclusion(0.5, 1, someHash, [], someHash)).toBe(false);
  });
});

describe('Merkle tree: structure', () => {
  test('frontierCoordinates: one perfect subtree per set bit, largest first, covering [0, size)', () => {
    expect(frontierCoordinates(0)).toEqual([]);
    expect(frontierCoordinates(1)).toEqual([{ level: 0, idx: 0 }]);
    expect(frontierCoordinates(6)).toEqual([
      { level: 2, idx: 0 },
      { level: 1, idx: 2 },
    ]);
    expect(frontierCoordinates(13)).toEqual([
      { level: 3, idx: 0 },
      { level: 2, idx: 2 },
      { level: 0, idx: 12 },
    ]);
    for (let size = 1; size <= 300; size++) {
      let next = 0;
      for (const c of frontierCoordinates(size)) {
        expect(c.idx * 2 ** c.level).toBe(next);
        next = (c.idx + 1) * 2 ** c.level;
      }
      expect(next).toBe(size);
    }
    // Beyond 32 bits: no truncation.
    const big = 2 ** 40 + 2 ** 33 + 5;
    expect(frontierCoordinates(big)).toEqual([
      { level: 40, idx: 0 },
      { level: 33, idx: 2 ** 7 },
      { level: 2, idx: (2 ** 40 + 2 ** 33) / 4 },
      { level: 0, idx: big - 1 },
    ]);
    expect(() => frontierCoordinates(-1)).toThrow(RangeError);
    expect(() => frontierCoordinates(2 ** 53)).toThrow(RangeError);
  });

  test('MerkleFrontier.push reports exactly the completed nodes of level >= 1, and restarts from its nodes', () => {
    const leaves = Array.from({ length: 100 }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)));
    const f = MerkleFrontier.empty();
    const seen = new Set<string>();
    leaves.forEach((leaf, i) => {
      const before = f.size;
      const done = f.push(leaf);
      const n = before + 1;
      // The nodes completed by leaf i: every level L >= 1 where 2^L divides n.
      const expected: string[] = [];
      for (let L = 1; n % 2 ** L === 0; L++) expected.push(`${L}:${n / 2 ** L - 1}`);
      expect(done.map((d) => coordKey(d))).toEqual(expected);
      for (const d of done) {
        expect(d.hash.equals(rootOf(leaves.slice(d.idx * 2 ** d.level, (d.idx + 1) * 2 ** d.level)))).toBe(true);
        seen.add(coordKey(d));
      }
      expect(f.size).toBe(i + 1);
      expect(f.root().equals(rootOf(leaves.slice(0, i + 1)))).toBe(true);
      // A frontier rebuilt from the stored nodes continues identically.
      const again = new MerkleFrontier(
        f.size,
        f.nodes().map((x) => x.hash),
      );
      expect(again.root().equals(f.root())).toBe(true);
      const shuffled = MerkleFrontier.fromNodes(f.size, [...f.nodes()].reverse().concat({ level: 9, idx: 9, hash: someHash }));
      expect(shuffled.root().equals(f.root())).toBe(true);
      expect(again.nodes().map(coordKey)).toEqual(frontierCoordinates(f.size).map(coordKey));
    });
    // Sum over L >= 1 of floor(100 / 2^L): the count evidence_append() expects.
    expect(seen.size).toBe(50 + 25 + 12 + 6 + 3 + 1);
    expect(() => new MerkleFrontier(3, [someHash])).toThrow(RangeError);
    expect(() => MerkleFrontier.fromNodes(3, [{ level: 1, idx: 0, hash: someHash }])).toThrow('(level 0, idx 2)');
    expect(() => new MerkleFrontier(1, [Buffer.alloc(31)])).toThrow(RangeError);
    expect(() => f.push(Buffer.alloc(33))).toThrow(RangeError);
  });

  test('rangeCoordinates refuses ranges that are not subtrees instead of walking every leaf', () => {
    expect(rangeCoordinates({ start: 4, end: 7 })).toEqual([
      { level: 1, idx: 2 },
      { level: 0, idx: 6 },
    ]);
    expect(() => rangeCoordinates({ start: 1, end: 5 })).toThrow(RangeError);
    expect(() => rangeCoordinates({ start: 2, end: 5 })).toThrow(RangeError);
    expect(() => rangeCoordinates({ start: 3, end: 3 })).toThrow(RangeError);
  });

  test('a missing stored node is an error naming it, not a wrong hash', async () => {
    const { fetch, nodes } = memoryStore(ctLeafHashes);
    nodes.delete('1:1');
    await expect(inclusionProof(0, 8, fetch)).rejects.toThrow(MissingNodeError);
    await expect(inclusionProof(0, 8, fetch)).rejects.toThrow('level 1, idx 1');
    await expect(subtreeRoot(0, 4, fetch)).resolves.toHaveLength(32); // (2, 0) is stored itself
  });
});

describe('Merkle tree: brute force, every size 1..70', () => {
  const N = 70;
  // Distinct leaves (a repeated leaf would make 'another leaf' verify), of varying data lengths.
  const leaves = Array.from({ length: N }, (_, i) => leafHash(Buffer.from(`record ${i} `.repeat((i % 5) + 1))));
  const store = memoryStore(leaves);

  test('roots, inclusion proofs and consistency proofs equal the RFC definitions and verify; tampering fails', async () => {
    // Thousands of cases: failures are collected and named, one expect at the end.
    const failures: string[] = [];
    const check = (ok: boolean, what: string): void => {
      if (!ok) failures.push(what);
    };
    /** One round trip (none for an empty proof), and only nodes inside the tree of `size`. */
    const checkFetches = (size: number, what: string): void => {
      check(store.calls.length <= 1, `${what}: ${store.calls.length} fetches`);
      for (const c of store.calls.flat()) check((c.idx + 1) * 2 ** c.level <= size, `${what}: read node ${coordKey(c)}`);
      store.calls.length = 0;
    };
    let cases = 0;
    for (let n = 1; n <= N; n++) {
      const d = leaves.slice(0, n);
      const root = rootOf(d);
      check((await treeRoot(n, store.fetch)).equals(root), `root(${n})`);
      store.calls.length = 0;

      for (let i = 0; i < n; i++) {
        const what = `inclusion(${i}, ${n})`;
        const proof = await inclusionProof(i, n, store.fetch);
        checkFetches(n, what);
        check(hexes(proof).join() === hexes(refPath(i, d)).join(), `${what} differs from PATH`);
        const leaf = d[i] as Buffer;
        check(verifyInclusion(i, n, leaf, proof, root), `${what} does not verify`);
        // Tampering: another leaf, a flipped proof bit, a dropped or added element, another index or size.
        if (n > 1) check(!verifyInclusion(i, n, d[(i + 1) % n] as Buffer, proof, root), `${what}: other leaf`);
        if (proof.length > 0) {
          const j = (i * 7) % proof.length;
          const flipped = proof.map((x, k) => (k === j ? flipBit(x, i % 8) : x));
          check(!verifyInclusion(i, n, leaf, flipped, root), `${what}: flipped bit`);
          check(!verifyInclusion(i, n, leaf, proof.slice(1), root), `${what}: dropped element`);
        }
        check(!verifyInclusion(i, n, leaf, [...proof, someHash], root), `${what}: added element`);
        if (i + 1 < n) check(!verifyInclusion(i + 1, n, leaf, proof, root), `${what}: index + 1`);
        check(!verifyInclusion(i, n * 2, leaf, proof, root), `${what}: size * 2`);
        cases++;
      }

      for (let m = 0; m <= n; m++) {
        const what = `consistency(${m}, ${n})`;
        const proof = await consistencyProof(m, n, store.fetch);
        checkFetches(n, what);
        const rootM = rootOf(d.slice(0, m));
        const expected = m === 0 ? [] : refProof(m, d);
        check(hexes(proof).join() === hexes(expected).join(), `${what} differs from PROOF`);
        check(verifyConsistency(m, n, proof, rootM, root), `${what} does not verify`);
        if (m > 0 && m < n) {
          const j = (m * 5) % proof.length;
          const flipped = proof.map((x, k) => (k === j ? flipBit(x, m % 8) : x));
          check(!verifyConsistency(m, n, flipped, rootM, root), `${what}: flipped bit`);
          check(!verifyConsistency(m, n, proof.slice(0, -1), rootM, root), `${what}: truncated`);
          check(!verifyConsistency(m, n, proof, flipBit(rootM, 0), root), `${what}: wrong old root`);
          check(!verifyConsistency(m, n, proof, rootM, flipBit(root, 0)), `${what}: wrong new root`);
          // A rewrite below m: the new tree no longer extends the old one.
          const rewritten = [...d];
          rewritten[m - 1] = someHash;
          check(!verifyConsistency(m, n, proof, rootM, rootOf(rewritten)), `${what}: rewritten leaf ${m - 1}`);
        }
        cases++;
      }
    }
    expect(failures).toEqual([]);
    expect(cases).toBe((N * (N + 1)) / 2 + (N * (N + 3)) / 2);
  });

  test('the brute-force checks can fail: a store with one wrong node is caught', async () => {
    const bad = memoryStore(leaves.slice(0, 13));
    bad.nodes.set('1:2', someHash);
    const root = rootOf(leaves.slice(0, 13));
    const proof = await inclusionProof(4, 13, bad.fetch);
    expect(verifyInclusion(4, 13, leaves[4] as Buffer, proof, root)).toBe(true); // (1, 2) is not on its path
    const proof6 = await inclusionProof(6, 13, bad.fetch);
    expect(verifyInclusion(6, 13, leaves[6] as Buffer, proof6, root)).toBe(false);
    expect((await treeRoot(13, bad.fetch)).equals(root)).toBe(true); // built from (3, 0), (2, 2), (0, 12)
    expect((await treeRoot(6, bad.fetch)).equals(rootOf(leaves.slice(0, 6)))).toBe(false); // from (2, 0), (1, 2)
  });
});

describe('Merkle tree: sizes beyond 32 bits', () => {
  // A tree whose leaves are all equal: every perfect node of level L has the same hash Z[L], so
  // a fetcher can serve any node of any size, and any proof must verify against its root.
  const Z: Buffer[] = [leafHash(Buffer.from('same'))];
  for (let L = 1; L <= 53; L++) Z.push(nodeHash(Z[L - 1] as Buffer, Z[L - 1] as Buffer));
  const fetch: NodeFetcher = async (coords) => new Map(coords.map((c) => [coordKey(c), Z[c.level] as Buffer]));

  test.each([
    [2 ** 31 + 1, 2 ** 31],
    [2 ** 32 + 3, 12345],
    [2 ** 52 + 2 ** 40 + 7, 2 ** 52 + 5],
    [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER - 1],
  ])('size %d, index %d', async (size, index) => {
    const root = await treeRoot(size, fetch);
    const proof = await inclusionProof(index, size, fetch);
    expect(verifyInclusion(index, size, Z[0] as Buffer, proof, root)).toBe(true);
    const m = index + 1;
    const cproof = await consistencyProof(m, size, fetch);
    expect(verifyConsistency(m, size, cproof, await treeRoot(m, fetch), root)).toBe(true);
    const f = new MerkleFrontier(
      size - 1,
      frontierCoordinates(size - 1).map((c) => Z[c.level] as Buffer),
    );
    f.push(Z[0] as Buffer);
    expect(f.root().equals(root)).toBe(true);
  });
});
