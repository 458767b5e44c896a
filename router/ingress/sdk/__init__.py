"""The SDK's edge: App Events and Request triggers called with a user token, their input and the
responses their workflows send back."""
