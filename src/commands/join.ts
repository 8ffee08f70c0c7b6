import { notImplementedCommand } from '../core/cli/index.js';

export default notImplementedCommand('join', 'Ask a running cluster to add a node');
