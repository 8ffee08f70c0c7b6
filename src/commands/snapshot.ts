import { notImplementedCommand } from '../core/cli/index.js';

export default notImplementedCommand('snapshot', 'Take a Raft snapshot of a running node or a stopped data directory');
