"""What the task asks, read from the task itself (its description's intents, directions and regions), for the designer and the analyzer."""
