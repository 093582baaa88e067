"""Recordings of the raw market feed: what the venue sent, as it arrived, for replay.

records  the line format (Record, kinds, RunInfo) and file names
files    listing, crash repair and retention of a recording directory
writer   Recorder: the hot-path taps, buffered and written as rotated gzip NDJSON
reader   records of recording files, in order, tolerating a torn tail
serve    a recording served as a market-channel WebSocket (and Gamma), as the venue would
"""
