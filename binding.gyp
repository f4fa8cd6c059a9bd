{
  "targets": [
    {
      "target_name": "gwlb_native",
      "sources": [
        "native/gwlb_native.c",
        "native/tun_gso.c",
        "native/bpf_loader.c"
      ],
      "cflags": [
        "-O2",
        "-Wall",
        "-Wextra",
        "-Wno-unused-parameter",
        "-Werror=implicit-function-declaration"
      ],
      "conditions": [
        [
          "OS!='linux'",
          {
            "type": "none"
          }
        ]
      ],
      "include_dirs": [
        "native/include"
      ]
    }
  ]
}
