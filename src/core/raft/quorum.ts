import type { NodeId } from './types.js';

/** Votes needed to win among `voters` members: a strict majority. */
export function majority(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

/**
 * The highest index that a majority of `voters` has reached, given each voter's match
 * index (missing voters count as 0). With no voters, 0.
 */
export function committedIndex(voters: readonly NodeId[], match: (id: NodeId) => number): number {
  if (voters.length === 0) return 0;
  const sorted = voters.map(match).sort((a, b) => b - a);
  return sorted[majority(voters.length) - 1]!;
}

/** The result of counting votes so far. */
export type VoteResult = 'won' | 'lost' | 'pending';

/**
 * Tallies `votes` (granted or not, by voter; votes of non-voters are ignored): won once
 * a majority granted, lost once a majority can no longer grant.
 */
export function tally(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  const need = majority(voters.length);
  if (granted >= need) return 'won';
  if (voters.length - rejected < need) return 'lost';
  return 'pending';
}
